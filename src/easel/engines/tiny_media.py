"""Tiny local models for image-to-video and image-to-3D (see `easel.engines.tiny`).

- ``svd``: Stable Video Diffusion in the diffusers layout
  (`StableVideoDiffusionPipeline`): a `UNetSpatioTemporalConditionModel`
  with block_out_channels (32, 64), one layer per block and 4 frames; an
  `AutoencoderKLTemporalDecoder` with three levels (a latent of 1/4 the
  side; its groups of 32 need 32 channels per level); a
  `CLIPVisionModelWithProjection` of hidden size 32 that takes the 224 px
  input the pipeline always feeds it; and SVD's Karras Euler scheduler
  (v-prediction, continuous timesteps). 4 steps at 128x72 take about 2 s on
  two CPU cores; 7.8 MB on disk.
- ``depth-anything``: a Depth Anything depth estimator (transformers
  `DepthAnythingForDepthEstimation` on a 4-layer DINOv2 of hidden size 32),
  with a `DPTImageProcessor` that feeds it 70 px (5x5 patches of 14); under
  1 MB.

Both are randomly initialised with fixed seeds: their outputs are
deterministic noise, produced by the real loading and inference code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["build_depth_anything", "build_svd"]

SVD_FRAMES = 4


def build_svd(directory: Path) -> None:
    import torch
    from diffusers import (
        AutoencoderKLTemporalDecoder,
        EulerDiscreteScheduler,
        StableVideoDiffusionPipeline,
        UNetSpatioTemporalConditionModel,
    )
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModelWithProjection

    torch.manual_seed(41)
    unet = UNetSpatioTemporalConditionModel(
        block_out_channels=(32, 64),
        layers_per_block=1,
        sample_size=32,
        in_channels=8,
        out_channels=4,
        down_block_types=("CrossAttnDownBlockSpatioTemporal", "DownBlockSpatioTemporal"),
        up_block_types=("UpBlockSpatioTemporal", "CrossAttnUpBlockSpatioTemporal"),
        cross_attention_dim=32,
        num_attention_heads=(2, 4),
        # fps, motion bucket and noise augmentation, each embedded in 32 dimensions
        projection_class_embeddings_input_dim=96,
        addition_time_embed_dim=32,
        num_frames=SVD_FRAMES,
    )
    torch.manual_seed(42)
    vae = AutoencoderKLTemporalDecoder(
        block_out_channels=(32, 32, 32),
        down_block_types=("DownEncoderBlock2D",) * 3,
        in_channels=3,
        out_channels=3,
        latent_channels=4,
        layers_per_block=1,
    )
    torch.manual_seed(43)
    image_encoder = CLIPVisionModelWithProjection(
        CLIPVisionConfig(
            hidden_size=32,
            projection_dim=32,
            num_hidden_layers=2,
            num_attention_heads=4,
            intermediate_size=37,
            image_size=224,
            patch_size=32,
        )
    )
    # SVD's own scheduler configuration
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        interpolation_type="linear",
        num_train_timesteps=1000,
        prediction_type="v_prediction",
        sigma_max=700.0,
        sigma_min=0.002,
        steps_offset=1,
        timestep_spacing="leading",
        timestep_type="continuous",
        use_karras_sigmas=True,
    )
    pipe: Any = StableVideoDiffusionPipeline(
        vae=vae,
        image_encoder=image_encoder,
        unet=unet,
        scheduler=scheduler,
        feature_extractor=CLIPImageProcessor(crop_size=224, size=224),
    )
    pipe.save_pretrained(directory)


def build_depth_anything(directory: Path) -> None:
    import torch
    from transformers import (
        DepthAnythingConfig,
        DepthAnythingForDepthEstimation,
        Dinov2Config,
        DPTImageProcessor,
    )

    backbone_fields: dict[str, Any] = {
        "hidden_size": 32,
        "num_hidden_layers": 4,
        "num_attention_heads": 4,
        "intermediate_size": 37,
        "image_size": 70,
        "patch_size": 14,
        "out_features": ["stage1", "stage2", "stage3", "stage4"],
        "reshape_hidden_states": False,
    }
    backbone = Dinov2Config(**backbone_fields)
    config = DepthAnythingConfig(
        backbone_config=backbone,
        reassemble_hidden_size=32,
        neck_hidden_sizes=[16, 16, 32, 32],
        fusion_hidden_size=16,
        head_hidden_size=8,
        patch_size=14,
        depth_estimation_type="relative",
    )
    torch.manual_seed(44)
    DepthAnythingForDepthEstimation(config).save_pretrained(directory)
    # Depth Anything's own preprocessing, at 70 px instead of 518
    DPTImageProcessor(
        size={"height": 70, "width": 70},
        keep_aspect_ratio=True,
        ensure_multiple_of=14,
        do_pad=False,
        image_mean=[0.485, 0.456, 0.406],
        image_std=[0.229, 0.224, 0.225],
        resample=3,
    ).save_pretrained(directory)

"""The relief image-to-3D engines build: grid limits, framing, cut-outs, a valid GLB."""

from __future__ import annotations

import io

import numpy as np
import trimesh
from PIL import Image

from easel.engines.heightfield import DEFAULT_GRID, frame_subject, grid_size, heightfield_glb


def load(glb: bytes) -> trimesh.Trimesh:
    mesh = trimesh.load(io.BytesIO(glb), file_type="glb", force="mesh")
    assert isinstance(mesh, trimesh.Trimesh)
    return mesh


def test_the_grid_fits_under_the_vertex_and_face_limits() -> None:
    assert grid_size() == DEFAULT_GRID
    assert grid_size(vertex_limit=400) == 20
    assert grid_size(face_limit=2000) == 32  # 2 * 31**2 = 1922 faces
    assert 2 * (grid_size(face_limit=2000) - 1) ** 2 <= 2000
    assert grid_size(vertex_limit=0) == 2  # still a mesh


def test_the_subject_fills_the_asked_ratio_of_a_square_frame() -> None:
    image = Image.new("RGBA", (300, 200), (0, 0, 0, 0))
    image.paste((255, 0, 0, 255), (50, 50, 250, 150))  # a 200x100 subject
    framed, alpha = frame_subject(image, 0.5)
    assert framed.size == alpha.size == (400, 400)
    assert alpha.getbbox() == (100, 150, 300, 250)
    cropped, _ = frame_subject(image, 2.0)  # above 1 crops into the subject
    assert cropped.size == (100, 100)
    opaque, whole = frame_subject(Image.new("RGB", (64, 32)), 1.0)
    assert (opaque.size, whole.getextrema()) == ((64, 64), (0, 255))


def test_a_relief_is_a_textured_mesh_facing_the_viewer() -> None:
    depth = np.zeros((32, 32))
    depth[8:24, 8:24] = 1.0  # a raised square
    glb = heightfield_glb(Image.new("RGB", (32, 32), "red"), depth, grid=16, texture_size=64)
    mesh = load(glb)
    assert (len(mesh.vertices), len(mesh.faces)) == (16 * 16, 2 * 15 * 15)
    assert mesh.face_normals[:, 2].min() > 0
    assert mesh.vertices[:, 2].max() > mesh.vertices[:, 2].min()
    assert mesh.visual.material.baseColorTexture.size == (64, 64)
    same = heightfield_glb(Image.new("RGB", (32, 32), "red"), depth, grid=16, texture_size=64)
    assert same == glb


def test_cells_outside_the_subject_are_dropped() -> None:
    alpha = Image.new("L", (32, 32), 0)
    alpha.paste(255, (0, 0, 16, 32))  # the left half
    depth = np.random.default_rng(1).random((32, 32))
    full = load(heightfield_glb(Image.new("RGB", (32, 32)), depth, grid=9, texture_size=16))
    half = load(
        heightfield_glb(Image.new("RGB", (32, 32)), depth, alpha=alpha, grid=9, texture_size=16)
    )
    assert 0 < len(half.faces) < len(full.faces)
    assert half.vertices[:, 0].max() <= 0.01
    empty = Image.new("L", (32, 32), 0)  # nothing kept: the whole grid rather than no mesh
    kept = load(heightfield_glb(Image.new("RGB", (32, 32)), depth, alpha=empty, grid=9))
    assert len(kept.faces) == len(full.faces)

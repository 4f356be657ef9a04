"""The protocol-neutral generation layer between the HTTP routers and the job layer.

Routers of every API version turn a request body into one typed
`OperationRequest` (`requests`) and call `GenerationService` (`service`): it
checks the request against its engine, filters prompts, resolves seeds,
prices, stores (`codec`) and submits the job, and hands results back as
encoded files (`outputs`). Workers rebuild the request from the stored form
(`work`).
"""

"""``aekit serve``: model folders behind HTTP (KServe V2 / Open Inference Protocol), with Prometheus metrics,
micro-batching, request limits and a latent-space explorer page. Needs the ``serve`` extra
(``pip install "aekit[serve]"``): FastAPI, uvicorn and prometheus-client, imported only here."""

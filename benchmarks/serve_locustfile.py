"""Locust user for benchmarks/serve.py: posts one prepared V2 inference request, again and again.

The request is read from the file named by ``AEKIT_BENCH_BODY`` and posted to ``AEKIT_BENCH_PATH`` on the
``--host`` locust is given (always http://127.0.0.1:PORT). No wait between requests: each user sends its next
request as soon as the answer arrives, so ``-u N`` is N requests in flight.
"""
import os

from locust import FastHttpUser, constant, task

BODY = open(os.environ["AEKIT_BENCH_BODY"], "rb").read()
PATH = os.environ["AEKIT_BENCH_PATH"]
HEADERS = {"Content-Type": "application/json"}


class Scorer(FastHttpUser):
    wait_time = constant(0)

    @task
    def infer(self):
        with self.client.post(PATH, data=BODY, headers=HEADERS, catch_response=True) as response:
            if response.status_code != 200:
                response.failure(f"HTTP {response.status_code}: {response.text[:200]}")

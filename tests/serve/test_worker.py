import pytest
import torch

from rnnkit.decoding import generate, temperature, top_p
from rnnkit.serve.worker import DONE, TOKEN, Batcher, Job, QueueFull


def collect(job: Job, timeout: float = 30.0) -> list[int]:
    tokens = []
    while True:
        event = job.events.get(timeout=timeout)
        if event[0] == TOKEN:
            tokens.append(event[1])
        else:
            assert event[0] == DONE, event
            return tokens


def jobs(tokenizer):
    prompts = [[tokenizer.start_id], [tokenizer.start_id, 5, 6, 7], [tokenizer.start_id, 9], [tokenizer.start_id, 8, 8]]
    return [Job(prompt, 12, "sample", [temperature(0.9), top_p(0.95)], tokenizer.end_id, seed=seed)
            for seed, prompt in enumerate(prompts)]


def test_batched_results_equal_each_request_alone(poem_bundle):
    model, tokenizer = poem_bundle.model, poem_bundle.tokenizer
    sizes = []
    batched = Batcher(model, max_batch=8, on_batch=sizes.append)
    together = [batched.submit(job) for job in jobs(tokenizer)]  # all queued before the worker starts
    batched.start()
    got = [collect(job) for job in together]
    batched.stop()
    assert max(sizes) == 4  # they really ran as one batch
    alone = Batcher(model, max_batch=1).start()
    for job, tokens in zip(jobs(tokenizer), got, strict=True):
        assert collect(alone.submit(job)) == tokens
        reference = generate(model, [job.prompt], method="sample", max_new_tokens=12, seed=job.seed,
                             processors=[temperature(0.9), top_p(0.95)], eos_id=tokenizer.end_id)
        assert tokens == reference.tokens[0, : int(reference.lengths[0])].tolist()
    alone.stop()


def test_queue_bound_and_stop(poem_bundle):
    batcher = Batcher(poem_bundle.model, max_queue=2)
    first, second = jobs(poem_bundle.tokenizer)[:2]
    batcher.submit(first)
    batcher.submit(second)
    assert batcher.depth() == 2
    with pytest.raises(QueueFull, match="2 requests are already waiting"):
        batcher.submit(jobs(poem_bundle.tokenizer)[2])
    batcher.start()
    batcher.stop()  # drains: the queued jobs finish
    assert collect(first, 0) and collect(second, 0)
    with pytest.raises(QueueFull, match="shutting down"):
        batcher.submit(first)
    with pytest.raises(ValueError, match="max_batch, max_queue: expected >= 1, got 0, 1"):
        Batcher(poem_bundle.model, max_batch=0, max_queue=1)


def test_a_cancelled_job_leaves_the_batch(poem_bundle):
    batcher = Batcher(poem_bundle.model)
    job = jobs(poem_bundle.tokenizer)[0]
    job.cancelled.set()
    batcher.submit(job).events.put(("marker",))
    batcher.start()
    batcher.stop()
    assert job.events.get_nowait() == ("marker",) and job.events.empty()
    torch.testing.assert_close(torch.tensor(batcher.depth()), torch.tensor(0))

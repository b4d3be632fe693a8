"""Generation backends: transformers in process on a tiny random llama, the OpenAI-compatible backend
against a scripted local HTTP server (retry, timeout, schema-fallback and concurrency rules) and against a
real ``transformers serve`` with the bundled model (slow), and the vllm backend's refusal without a GPU
and its request handling against a fake engine."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import torch
from conftest import one_line_error, synthtune_cmd, write
from llm_server import TransformersServer, free_port
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from synthtune.config import BackendSettings
from synthtune.errors import DependencyMissing, LLMError, ModelNotFoundError
from synthtune.llm.base import ChatRequest, make_backend
from synthtune.llm.openai_backend import OpenAIBackend
from synthtune.llm.transformers_backend import TransformersBackend

# ---------------------------------------------------------------------------------------------------
# A tiny random llama with a word-level tokenizer and a ChatML-like template, built in code.

TEXT = (
    "the a of to and in is was for on revenue quarter growth margin cash company report year net income "
    "sales cost share market price rose fell percent million billion what how why when who which question "
    "answer total first second third fourth new old high low up down by from with"
)
WORDS = TEXT.split()
SPECIALS = ["<|im_end|>", "<pad>", "<|im_start|>", "<unk>"]
TEMPLATE = (
    "{% for m in messages %}{% if m['role'] == 'tool' %}{{ raise_exception('no tool messages') }}{% endif %}"
    "<|im_start|>{{ m['role'] }} {{ m['content'] }}<|im_end|>{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant {% endif %}"
)
PROMPTS = [
    "what was the revenue",
    "how did the margin rise in the third quarter of the year",
    "why",
    "the company report of net income and cash",
    "who",
    "which share price fell by ten percent in the first quarter",
    "total sales",
    "when did the cost of cash rise and why was the margin low in the second quarter",
]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tiny-llama")
    vocab = {t: i for i, t in enumerate([*SPECIALS, "user", "assistant", "system", "?", ".", ",", *WORDS])}
    raw = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    raw.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    raw.add_special_tokens(SPECIALS)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=raw, eos_token="<|im_end|>", pad_token="<pad>", unk_token="<unk>"
    )
    tokenizer.chat_template = TEMPLATE
    tokenizer.save_pretrained(path)
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        initializer_range=0.3,  # peaked logits: no near-ties for padding noise to flip
        pad_token_id=vocab["<pad>"],
        eos_token_id=vocab["<|im_end|>"],
    )
    LlamaForCausalLM(config).save_pretrained(path)
    return path


def _backend(path: Path, **overrides) -> TransformersBackend:
    settings = BackendSettings(model=str(path), max_new_tokens=12, **overrides)
    return TransformersBackend(settings)


def _requests(prompts: list[str] = PROMPTS) -> list[ChatRequest]:
    return [ChatRequest(messages=[{"role": "user", "content": p}]) for p in prompts]


def test_batched_generation_equals_one_at_a_time_in_input_order(tiny_model: Path) -> None:
    backend = _backend(tiny_model, batch_size=3)
    batched = backend.generate(_requests())
    alone = [backend.generate([r])[0] for r in _requests()]

    assert len(batched) == len(PROMPTS)
    assert [(c.text, c.tokens_out, c.finish_reason) for c in batched] == [
        (c.text, c.tokens_out, c.finish_reason) for c in alone
    ]
    # the batch mixes replies that end at the end-of-turn token with replies cut at max_new_tokens,
    # so rows are padded after an early stop as well as on the left
    assert {c.finish_reason for c in batched} == {"stop", "length"}
    assert all(c.outcome == "ok" and c.attempts == 1 and c.error is None for c in batched)


@pytest.mark.parametrize("options", [{}, {"no_repeat_ngram_size": 2}, {"repetition_penalty": 1.0}])
def test_continuous_batching_equals_transformers_generate(tiny_model: Path, options: dict) -> None:
    """The backend's own decode loop (rows leave and join the batch) gives what generate() gives."""
    backend = _backend(tiny_model, batch_size=3, **options)
    assert backend.continuous_batching
    ours = backend.generate(_requests())
    backend.continuous_batching = False  # fixed batches through transformers' generate()
    reference = backend.generate(_requests())
    assert [(c.text, c.tokens_in, c.tokens_out, c.finish_reason) for c in ours] == [
        (c.text, c.tokens_in, c.tokens_out, c.finish_reason) for c in reference
    ]


def test_token_counts_and_stop_token(tiny_model: Path) -> None:
    backend = _backend(tiny_model, batch_size=8)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    completions = backend.generate(_requests())
    for prompt, c in zip(PROMPTS, completions, strict=True):
        expected_in = tokenizer.apply_chat_template(
            [{"role": "user", "content": prompt}], add_generation_prompt=True, return_dict=True
        )["input_ids"]
        assert c.tokens_in == len(expected_in)  # padding is not counted
        assert "<|im_end|>" not in c.text and "<pad>" not in c.text
        if c.finish_reason == "length":
            assert c.tokens_out == 12
        else:  # the end-of-turn token is counted, nothing after it
            assert 1 <= c.tokens_out < 12
            assert len(c.text.split()) <= c.tokens_out - 1


def test_generation_is_deterministic_and_seeded(tiny_model: Path) -> None:
    greedy = [c.text for c in _backend(tiny_model).generate(_requests())]
    assert greedy == [c.text for c in _backend(tiny_model).generate(_requests())]

    sampling = _backend(tiny_model, temperature=1.5, repetition_penalty=1.0, seed=7)
    first = [c.text for c in sampling.generate(_requests())]
    assert first == [c.text for c in sampling.generate(_requests())]
    reseeded = [ChatRequest(messages=r.messages, seed=8) for r in _requests()]
    assert first != [c.text for c in sampling.generate(reseeded)]
    # a per-request temperature samples exactly as the same temperature set in the settings
    greedy_backend = _backend(tiny_model, repetition_penalty=1.0, seed=7)
    hot = [ChatRequest(messages=r.messages, temperature=1.5) for r in _requests()]
    assert [c.text for c in greedy_backend.generate(hot)] == first


def test_per_request_max_new_tokens_and_progress(tiny_model: Path) -> None:
    backend = _backend(tiny_model, batch_size=2, repetition_penalty=1.0)
    requests = _requests()
    requests[1] = ChatRequest(messages=requests[1].messages, max_new_tokens=3)
    seen: list[int] = []
    completions = backend.generate(requests, progress=seen.append)
    assert sum(seen) == len(requests)
    assert completions[1].tokens_out <= 3
    assert completions[1].text == backend.generate([requests[1]])[0].text


def test_a_request_the_template_refuses_fails_alone(tiny_model: Path) -> None:
    backend = _backend(tiny_model)
    requests = _requests(PROMPTS[:2])
    requests.insert(1, ChatRequest(messages=[{"role": "tool", "content": "x"}]))
    seen: list[int] = []
    completions = backend.generate(requests, progress=seen.append)
    assert [c.outcome for c in completions] == ["ok", "failed", "ok"]
    assert "no tool messages" in completions[1].error
    assert completions[0].text == backend.generate(requests[:1])[0].text
    assert sum(seen) == 3


def test_missing_model_is_a_one_line_error(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-model"
    with pytest.raises(ModelNotFoundError) as info:
        make_backend(BackendSettings(model=str(missing)))
    assert str(missing) in str(info.value)
    assert "\n" not in str(info.value)


def test_openai_backend_needs_a_base_url() -> None:
    with pytest.raises(LLMError, match="base_url"):
        make_backend(BackendSettings(backend="openai", model="m"))


# ---------------------------------------------------------------------------------------------------
# The OpenAI-compatible backend against a scripted HTTP server: each test queues the replies.


class ScriptedServer:
    """Answers /v1/chat/completions from a queue of (status, body, headers, delay_s); records requests."""

    def __init__(self) -> None:
        self.script: list[tuple[int, dict | str, dict, float]] = []
        self.received: list[dict] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with outer.lock:
                    outer.received.append(body)
                    status, reply, headers, delay = outer.next_reply(body)
                    outer.in_flight += 1
                    outer.max_in_flight = max(outer.max_in_flight, outer.in_flight)
                time.sleep(delay)
                with outer.lock:
                    outer.in_flight -= 1
                raw = isinstance(reply, str)  # a raw body, e.g. a proxy's HTML error page
                data = reply.encode() if raw else json.dumps(reply).encode()
                kind = "text/html" if raw else "application/json"
                try:
                    self.send_response(status)
                    for key, value in {"Content-Type": kind, **headers}.items():
                        self.send_header(key, value)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client timed out and left
                    pass

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def next_reply(self, body: dict) -> tuple[int, dict | str, dict, float]:
        if self.script:
            return self.script.pop(0)
        return 200, ok_body(body), {}, 0.0

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def ok_body(request: dict, text: str = "An answer.") -> dict:
    return {
        "id": "x",
        "object": "chat.completion",
        "created": 0,
        "model": request.get("model", "m"),
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}],
        "usage": {"prompt_tokens": 11, "completion_tokens": 3, "total_tokens": 14},
    }


def error_body(message: str) -> dict:
    return {"error": {"message": message, "type": "invalid_request_error"}}


@pytest.fixture
def scripted() -> ScriptedServer:
    server = ScriptedServer()
    yield server
    server.close()


def _openai(base_url: str, **overrides) -> OpenAIBackend:
    options = {"max_retries": 3, "backoff_s": 0.01, "timeout_s": 10.0, **overrides}
    return OpenAIBackend(BackendSettings(backend="openai", model="m", base_url=base_url, **options))


def test_openai_retries_429_and_5xx_then_succeeds(scripted: ScriptedServer) -> None:
    scripted.script = [
        (429, error_body("slow down"), {"Retry-After": "0"}, 0.0),
        (503, error_body("overloaded"), {}, 0.0),
    ]
    backend = _openai(scripted.base_url)
    [c] = backend.generate(_requests(["what was the revenue"]))
    backend.close()
    assert (c.outcome, c.attempts, c.text, c.error) == ("retried", 3, "An answer.", None)
    assert (c.tokens_in, c.tokens_out, c.finish_reason) == (11, 3, "stop")
    first = scripted.received[0]
    assert first["model"] == "m" and first["seed"] == 0 and first["max_tokens"] == 96
    assert first["messages"] == [{"role": "user", "content": "what was the revenue"}]


def test_openai_gives_up_after_max_retries_and_on_client_errors(scripted: ScriptedServer) -> None:
    scripted.script = [(500, error_body("boom"), {}, 0.0)] * 3 + [(404, error_body("no such model"), {}, 0.0)]
    backend = _openai(scripted.base_url, max_retries=2)
    [failed] = backend.generate(_requests(["q"]))
    [not_found] = backend.generate(_requests(["q"]))
    backend.close()
    assert (failed.outcome, failed.attempts, failed.text) == ("failed", 3, "")
    assert "HTTP 500" in failed.error and "boom" in failed.error and "3 attempts" in failed.error
    assert (not_found.outcome, not_found.attempts) == ("failed", 1)  # a 404 is not retried
    assert "HTTP 404" in not_found.error


def test_openai_reply_that_is_not_a_completion_fails_with_the_raw_text(scripted: ScriptedServer) -> None:
    scripted.script = [(200, "<html>bad gateway page</html>", {}, 0.0)]
    backend = _openai(scripted.base_url)
    [c] = backend.generate(_requests(["q"]))
    backend.close()
    assert (c.outcome, c.attempts) == ("failed", 1)
    assert "not a chat completion" in c.error and "bad gateway page" in c.error


def test_openai_timeout_is_retried_then_fails(scripted: ScriptedServer) -> None:
    scripted.script = [(200, ok_body({}), {}, 1.5)] * 2
    backend = _openai(scripted.base_url, timeout_s=0.3, max_retries=1)
    [c] = backend.generate(_requests(["q"]))
    backend.close()
    assert (c.outcome, c.attempts) == ("failed", 2)
    assert "timed out" in c.error


def test_openai_schema_rejected_falls_back_for_the_session(scripted: ScriptedServer) -> None:
    schema = {"title": "Questions", "type": "object", "properties": {"q": {"type": "string"}}}
    scripted.script = [(400, error_body("response_format json_schema is not supported"), {}, 0.0)]
    backend = _openai(scripted.base_url, max_retries=0)
    [first] = backend.generate([ChatRequest(messages=[{"role": "user", "content": "q"}], json_schema=schema)])
    [second] = backend.generate(
        [ChatRequest(messages=[{"role": "user", "content": "q"}], json_schema=schema)]
    )
    backend.close()
    assert scripted.received[0]["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "Questions", "schema": schema},
    }
    assert "response_format" not in scripted.received[1]  # resent at once without it
    assert "response_format" not in scripted.received[2]  # and remembered
    assert (first.outcome, first.attempts) == ("retried", 2)
    assert (second.outcome, second.attempts) == ("ok", 1)
    assert backend.schema_supported is False


def test_openai_concurrency_is_bounded_and_order_kept(scripted: ScriptedServer) -> None:
    scripted.script = [(200, ok_body({}, text=f"reply {i}"), {}, 0.3 - 0.03 * i) for i in range(9)]
    backend = _openai(scripted.base_url, concurrency=3)
    seen: list[int] = []
    completions = backend.generate(_requests([f"q{i}" for i in range(9)]), progress=seen.append)
    backend.close()
    assert scripted.max_in_flight == 3
    assert sum(seen) == 9
    # the server answered in arrival order; each reply must land on the request that got it
    by_prompt = {r["messages"][0]["content"]: i for i, r in enumerate(scripted.received)}
    assert [c.text for c in completions] == [f"reply {by_prompt[f'q{i}']}" for i in range(9)]


def test_openai_dead_server_fails_with_a_clear_error() -> None:
    backend = _openai(f"http://127.0.0.1:{free_port()}/v1", max_retries=2)
    [c] = backend.generate(_requests(["q"]))
    backend.close()
    assert (c.outcome, c.attempts, c.text) == ("failed", 3, "")
    assert c.error.startswith("connection error") and "3 attempts" in c.error


# ---------------------------------------------------------------------------------------------------
# The OpenAI-compatible backend against a real `transformers serve` with the bundled model.


@pytest.fixture(scope="module")
def bundled_dir() -> str:
    from synthtune.llm.bundled import resolve_generator

    return resolve_generator("bundled")


@pytest.fixture(scope="module")
def served(bundled_dir: str, tmp_path_factory: pytest.TempPathFactory) -> TransformersServer:
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    server = TransformersServer(bundled_dir, log_path=log).start()
    yield server
    server.stop()


QUESTIONS = [
    "What is the capital of France?",
    "Name one primary color.",
    "What is 2 + 2?",
    "Say hello.",
]


@pytest.mark.slow
def test_openai_backend_against_transformers_serve(served: TransformersServer) -> None:
    settings = BackendSettings(
        backend="openai", model=served.model, base_url=served.base_url, concurrency=4, max_new_tokens=10
    )
    backend = make_backend(settings)
    completions = backend.generate(_requests(QUESTIONS))
    backend.close()
    assert all(c.outcome == "ok" and c.attempts == 1 and c.error is None for c in completions)
    # replies land on their own questions (greedy, so these are stable for the bundled model)
    assert "Paris" in completions[0].text and "4" in completions[2].text
    tokenizer = AutoTokenizer.from_pretrained(served.model)
    for question, c in zip(QUESTIONS, completions, strict=True):
        prompt = tokenizer.apply_chat_template(
            [{"role": "user", "content": question}], add_generation_prompt=True, return_dict=True
        )["input_ids"]
        assert c.tokens_in == len(prompt)
        assert 1 <= c.tokens_out <= 10 and c.finish_reason in ("stop", "length")
        assert c.latency_s > 0


@pytest.mark.slow
def test_openai_backend_retries_across_a_server_crash(served: TransformersServer) -> None:
    """Kill the server while requests are in flight, bring it back on the same port: nothing is lost."""
    settings = BackendSettings(
        backend="openai",
        model=served.model,
        base_url=served.base_url,
        concurrency=2,
        max_new_tokens=8,
        max_retries=8,
        backoff_s=0.5,
        timeout_s=60,
    )
    backend = make_backend(settings)
    done = threading.Event()

    def crash_and_restart(_: int) -> None:
        if not done.is_set():
            done.set()
            served.stop(hard=True)
            served.start(wait=False)  # ready again in ~10 s; requests meanwhile see connection errors

    completions = backend.generate(_requests(QUESTIONS), progress=crash_and_restart)
    backend.close()
    served.wait_ready()
    assert all(c.outcome in ("ok", "retried") and c.text for c in completions), [c.error for c in completions]
    retried = [c for c in completions if c.outcome == "retried"]
    assert retried and all(c.attempts > 1 for c in retried)


# ---------------------------------------------------------------------------------------------------
# The vllm backend. This machine has no CUDA GPU and no vllm: constructing it must say so in one line.
# The engine itself is checked only by benchmarks/gpu_check.sh, on a GPU (never a stand-in for vLLM).


VLLM_RUNS_HERE = torch.cuda.is_available() and importlib.util.find_spec("vllm") is not None
needs_no_vllm = pytest.mark.skipif(VLLM_RUNS_HERE, reason="this machine has a CUDA GPU and vllm")


@needs_no_vllm
def test_vllm_backend_without_cuda_or_vllm_is_a_one_line_error() -> None:
    with pytest.raises(DependencyMissing) as info:
        make_backend(BackendSettings(backend="vllm"))
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("backend: vllm needs")
    if not torch.cuda.is_available():
        assert "a CUDA GPU (none is visible to torch)" in message
    if importlib.util.find_spec("vllm") is None:
        assert "`pip install vllm`" in message
    assert "backend: transformers" in message  # what to do instead


@needs_no_vllm
def test_vllm_backend_in_a_project_fails_generate_with_one_line(make_project, tmp_path: Path) -> None:
    p = make_project({"llm": {"question_writer": {"backend": "vllm"}}})
    (p.dir / "synthtune.yaml").write_text("llm:\n  question_writer:\n    backend: vllm\n")
    write(
        tmp_path / "docs" / "acme.md", "# Acme Q3\n\nAcme's revenue rose 12% to $5.1 billion in the quarter."
    )
    p.ingest([tmp_path / "docs"])
    p.close()
    proc = synthtune_cmd("-C", p.dir, "generate")
    assert proc.returncode == 1
    one_line_error(proc, "backend: vllm needs")
    assert "use backend: transformers" in " ".join(proc.stderr.split())

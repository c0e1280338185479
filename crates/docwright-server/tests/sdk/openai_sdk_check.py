"""Drives docwright's OpenAI-compatible front door with the official `openai` Python SDK,
unchanged: only the base URL and the API key point at docwright. Exits non-zero on any
mismatch; prints `openai-sdk-ok` at the end."""

import json
import os
import sys

from openai import BadRequestError, NotFoundError, OpenAI

client = OpenAI(base_url=os.environ["DW_BASE_URL"], api_key=os.environ["DW_API_KEY"], max_retries=0)
messages = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "Hello from the SDK"}]

models = [m.id for m in client.models.list()]
assert "dryrun-simple" in models and "auto" in models, models

r = client.chat.completions.create(model="dryrun-simple", messages=messages)
content = r.choices[0].message.content
assert "Hello from the SDK" in content, content
assert r.usage.prompt_tokens > 0 and r.usage.completion_tokens > 0, r.usage
assert r.model == "dryrun-simple", r.model

text, usage = "", None
stream = client.chat.completions.create(
    model="dryrun-simple", messages=messages, stream=True, stream_options={"include_usage": True}
)
for chunk in stream:
    if chunk.choices and chunk.choices[0].delta.content:
        text += chunk.choices[0].delta.content
    if chunk.usage:
        usage = chunk.usage
assert text == content, (text, content)
assert usage is not None and usage.completion_tokens == r.usage.completion_tokens, usage

j = client.chat.completions.create(model="auto", messages=messages, response_format={"type": "json_object"})
assert isinstance(json.loads(j.choices[0].message.content), dict)

try:
    client.chat.completions.create(model="no-such-model", messages=messages)
    sys.exit("expected NotFoundError for an unknown model")
except NotFoundError as e:
    # The SDK reads docwright's error envelope: the stable code and the message.
    assert e.code == "model_not_found", (e.code, e.body)
    assert "unknown model" in str(e), str(e)
    assert e.type == "invalid_request_error", e.type

m = client.models.retrieve("dryrun-simple")
assert (m.id, m.owned_by) == ("dryrun-simple", "dryrun"), m
try:
    client.models.retrieve("no-such-model")
    sys.exit("expected NotFoundError for an unknown model")
except NotFoundError as e:
    assert e.code == "model_not_found", e.body

try:
    client.chat.completions.create(model="dryrun-simple", messages=messages, n=3)
    sys.exit("expected BadRequestError for n=3")
except BadRequestError as e:
    assert (e.code, e.param, e.type) == ("validation_failed", "n", "invalid_request_error"), e.body

# The usage chunk carries the completion's id, like every other chunk.
ids = set()
for chunk in client.chat.completions.create(
    model="dryrun-simple", messages=messages, stream=True, stream_options={"include_usage": True}
):
    ids.add(chunk.id)
assert len(ids) == 1 and ids.pop().startswith("chatcmpl-"), ids

# Embeddings: the SDK asks for base64 by default and decodes it; float when asked.
e = client.embeddings.create(model="dryrun-embedding", input=["first text", "second text"])
assert [d.index for d in e.data] == [0, 1], e.data
assert len(e.data[0].embedding) == 256 and e.usage.prompt_tokens > 0, e.usage
f = client.embeddings.create(model="dryrun-embedding", input="first text", encoding_format="float")
assert max(abs(a - b) for a, b in zip(f.data[0].embedding, e.data[0].embedding)) < 1e-6
assert abs(sum(x * x for x in f.data[0].embedding) - 1.0) < 1e-4

print("openai-sdk-ok")

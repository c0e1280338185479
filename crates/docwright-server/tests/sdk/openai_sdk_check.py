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

# Function calling: the model is made to call the tool, the result goes back as a `tool`
# message, and the model answers from it.
tools = [{"type": "function", "function": {"name": "get_weather", "description": "The weather in a city",
          "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]
ask = [{"role": "user", "content": "What is the weather in Bern?"}]
c = client.chat.completions.create(model="dryrun-simple", messages=ask, tools=tools, tool_choice="required")
choice = c.choices[0]
assert choice.finish_reason == "tool_calls", choice
call = choice.message.tool_calls[0]
assert call.type == "function" and call.function.name == "get_weather", call
assert isinstance(json.loads(call.function.arguments)["city"], str), call.function.arguments
after = client.chat.completions.create(
    model="dryrun-simple",
    tools=tools,
    messages=ask
    + [choice.message.model_dump(exclude_none=True),
       {"role": "tool", "tool_call_id": call.id, "content": json.dumps({"temp_c": 21})}],
)
assert after.choices[0].finish_reason == "stop" and "temp_c" in after.choices[0].message.content, after
none = client.chat.completions.create(model="dryrun-simple", messages=ask, tools=tools, tool_choice="none")
assert not none.choices[0].message.tool_calls and none.choices[0].message.content, none

# Streamed, the call arrives as delta.tool_calls pieces that add up to the same call.
pieces, finish = {}, None
for chunk in client.chat.completions.create(
    model="dryrun-simple", messages=ask, tools=tools, tool_choice="required", stream=True
):
    for d in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
        p = pieces.setdefault(d.index, {"id": None, "name": None, "arguments": ""})
        p["id"] = p["id"] or d.id
        p["name"] = p["name"] or (d.function.name if d.function else None)
        p["arguments"] += (d.function.arguments or "") if d.function else ""
    if chunk.choices and chunk.choices[0].finish_reason:
        finish = chunk.choices[0].finish_reason
assert finish == "tool_calls" and pieces[0]["name"] == "get_weather" and pieces[0]["id"], pieces
assert isinstance(json.loads(pieces[0]["arguments"])["city"], str), pieces

try:
    client.chat.completions.create(model="dryrun-simple", messages=ask, tools=tools,
                                   tool_choice={"type": "function", "function": {"name": "nope"}})
    sys.exit("expected BadRequestError for an undeclared function")
except BadRequestError as e:
    assert (e.code, e.param) == ("validation_failed", "tool_choice"), e.body

# The Responses API: text, streamed events, a function-calling round trip, and what it refuses.
resp = client.responses.create(model="dryrun-simple", instructions="be brief", input="Hello from the SDK")
assert resp.status == "completed" and "Hello from the SDK" in resp.output_text, resp
assert resp.id.startswith("resp_") and resp.usage.input_tokens > 0 and resp.usage.output_tokens > 0, resp.usage

kinds, streamed_text, completed = [], "", None
for ev in client.responses.create(model="dryrun-simple", instructions="be brief", input="Hello from the SDK", stream=True):
    kinds.append(ev.type)
    if ev.type == "response.output_text.delta":
        streamed_text += ev.delta
    if ev.type == "response.completed":
        completed = ev.response
assert kinds[:2] == ["response.created", "response.in_progress"] and kinds[-1] == "response.completed", kinds
assert "response.output_item.added" in kinds and "response.output_text.done" in kinds, kinds
assert streamed_text == completed.output_text == resp.output_text, (streamed_text, completed.output_text)

flat = [{"type": "function", "name": "get_weather", "description": "The weather in a city",
         "parameters": tools[0]["function"]["parameters"]}]
first = client.responses.create(model="dryrun-simple", input=ask, tools=flat, tool_choice="required")
fc = [o for o in first.output if o.type == "function_call"]
assert len(fc) == 1 and fc[0].name == "get_weather" and fc[0].call_id, first.output
second = client.responses.create(
    model="dryrun-simple", tools=flat,
    input=ask + [fc[0].model_dump(exclude_none=True),
                 {"type": "function_call_output", "call_id": fc[0].call_id, "output": json.dumps({"temp_c": 21})}],
)
assert "temp_c" in second.output_text and not [o for o in second.output if o.type == "function_call"], second.output

args, done = "", None
for ev in client.responses.create(model="dryrun-simple", input=ask, tools=flat, tool_choice="required", stream=True):
    if ev.type == "response.function_call_arguments.delta":
        args += ev.delta
    if ev.type == "response.function_call_arguments.done":
        done = ev
assert done is not None and done.arguments == args and isinstance(json.loads(args)["city"], str), (args, done)

j = client.responses.create(model="auto", input="a JSON object please", text={"format": {"type": "json_object"}})
assert isinstance(json.loads(j.output_text), dict), j.output_text

try:
    client.responses.create(model="dryrun-simple", input="again", previous_response_id=resp.id)
    sys.exit("expected BadRequestError for previous_response_id")
except BadRequestError as e:
    assert (e.code, e.param) == ("validation_failed", "previous_response_id"), e.body

print("openai-sdk-ok")

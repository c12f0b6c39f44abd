# ruff: noqa: E501 - real tracebacks have long lines
"""triage/reproduction/expectations.py: what a user types, and what real issue bodies show."""

import pytest

from triage.reproduction.expectations import (
    Expectation,
    ExpectationError,
    compare,
    expectation_from_text,
    last_traceback,
    observed_failure,
    parse_expect,
)

# --------------------------------------------------------------------------- --expect


@pytest.mark.parametrize(
    "text, expected",
    [
        ("IndexError", Expectation(exception_type="IndexError", source="given")),
        (
            "IndexError: index out of range",
            Expectation(exception_type="IndexError", message_pattern="index out of range", source="given"),
        ),
        (
            "tensorflow.python.framework.errors_impl.InvalidArgumentError: indices[1] = 5 is not in [0, 3)",
            Expectation(
                exception_type="InvalidArgumentError", message_pattern="indices[1] = 5 is not in [0, 3)", source="given"
            ),
        ),
        ("exit 3", Expectation(exit_code=3, source="given")),
        ("exit code 1", Expectation(exit_code=1, source="given")),
        ("SIGSEGV", Expectation(signal=11, source="given")),
        ("signal 6", Expectation(signal=6, source="given")),
        ("", Expectation()),
    ],
)
def test_parse_expect(text, expected):
    assert parse_expect(text) == expected


@pytest.mark.parametrize(
    "text, words",
    [
        ("index out of range!", "exception type"),
        ("exit 0", "1 to 255"),
        ("SIGNOPE", "not a signal name"),
        ("x" * 501, "longer than 500"),
    ],
)
def test_parse_expect_refuses_what_is_not_an_expectation(text, words):
    with pytest.raises(ExpectationError, match=words):
        parse_expect(text)


def test_describe_and_round_trip():
    e = parse_expect("IndexError: out of range")
    assert e.describe() == "IndexError: out of range"
    assert Expectation.from_dict(e.as_dict()) == e
    assert Expectation(signature="a" * 64, exit_code=3).describe() == "exit code 3, signature aaaaaaaaaaaa"
    assert Expectation().empty and Expectation.from_dict("junk").empty


# --------------------------------------------------------------------------- real-looking issue bodies

PYTORCH_ISSUE = """### 🐛 Describe the bug

`torch.nn.functional.embedding_bag` crashes with an offset past the input.

```python
import torch
x = torch.tensor([1, 2, 3])
torch.nn.functional.embedding_bag(x, torch.randn(10, 3), torch.tensor([0, 5]))
```

```
Traceback (most recent call last):
  File "/home/user/repro.py", line 3, in <module>
    torch.nn.functional.embedding_bag(x, torch.randn(10, 3), torch.tensor([0, 5]))
  File "/opt/conda/lib/python3.10/site-packages/torch/nn/functional.py", line 2392, in embedding_bag
    ret, _, _, _ = torch.embedding_bag(
RuntimeError: offsets[-1] can not be greater than input's length 3, but got offsets[-1] of 5
```

### Versions
PyTorch version: 2.0.1
"""

TENSORFLOW_ISSUE = """**System information**
- TensorFlow version: 2.11.0

**Describe the current behavior**
tf.gather on CPU raises for an out of range index:

```
>>> import tensorflow as tf
>>> tf.gather(tf.constant([1., 2., 3.]), [5])
Traceback (most recent call last):
  File "<stdin>", line 1, in <module>
  File "/usr/local/lib/python3.8/dist-packages/tensorflow/python/util/traceback_utils.py", line 153, in error_handler
    raise e.with_traceback(filtered_tb) from None
  File "/usr/local/lib/python3.8/dist-packages/tensorflow/python/framework/ops.py", line 7215, in raise_from_not_ok_status
    raise core._status_to_exception(e) from None  # pylint: disable=protected-access
tensorflow.python.framework.errors_impl.InvalidArgumentError: {{function_node __wrapped__GatherV2_device_/job:localhost/replica:0/task:0/device:CPU:0}} indices[0] = 5 is not in [0, 3) [Op:GatherV2]
```
but on GPU it returns 0.
"""

JAX_ISSUE = """Calling `jnp.take` inside `jit` with a traced index fails:

<details>
<summary>Full traceback</summary>

```
Traceback (most recent call last):
  File "/content/bug.py", line 8, in <module>
    f(jnp.ones(3), 1.5)
  File "/usr/local/lib/python3.10/dist-packages/jax/_src/traceback_util.py", line 166, in reraise_with_filtered_traceback
    return fun(*args, **kwargs)
jax._src.traceback_util.UnfilteredStackTrace: TypeError: Indexer must have integer or boolean type, got indexer with type float32 at position 0, indexer value Traced<ShapedArray(float32[], weak_type=True)>

The stack trace below excludes JAX-internal frames.
The preceding is the original exception that occurred, unmodified.

--------------------

The above exception was the direct cause of the following exception:

Traceback (most recent call last):
  File "/content/bug.py", line 8, in <module>
    f(jnp.ones(3), 1.5)
  File "/content/bug.py", line 5, in f
    return x[i]
TypeError: Indexer must have integer or boolean type, got indexer with type float32 at position 0, indexer value Traced<ShapedArray(float32[], weak_type=True)>
```

</details>
"""

KERAS_ISSUE = """When I call a `Dense` layer on an int tensor:

<details><summary>Traceback</summary>
<pre>
Traceback (most recent call last):
  File "/tmp/keras_bug.py", line 6, in &lt;module&gt;
    layer(tf.constant([[1, 2]]))
  File "/usr/local/lib/python3.9/site-packages/keras/utils/traceback_utils.py", line 70, in error_handler
    raise e.with_traceback(filtered_tb) from None
ValueError: Exception encountered when calling layer "dense" (type Dense).

Input 0 of layer "dense" is incompatible with the layer: expected dtype float32, found int32

Call arguments received by layer "dense" (type Dense):
  • inputs=tf.Tensor(shape=(1, 2), dtype=int32)
</pre>
</details>
"""

CHAINED = """```
Traceback (most recent call last):
  File "a.py", line 3, in load
    return cache[key]
KeyError: 'conv1.weight'

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
  File "a.py", line 9, in <module>
    model.load_state_dict(sd)
  File "/usr/lib/python3/dist-packages/torch/nn/modules/module.py", line 2041, in load_state_dict
    raise RuntimeError('Error(s) in loading state_dict for {}:\\n\\t{}'.format(
RuntimeError: Error(s) in loading state_dict for Net:
	Missing key(s) in state_dict: "conv1.weight".
```
"""


@pytest.mark.parametrize(
    "body, exception_type, message",
    [
        (
            PYTORCH_ISSUE,
            "RuntimeError",
            "offsets[-1] can not be greater than input's length 3, but got offsets[-1] of 5",
        ),
        (
            TENSORFLOW_ISSUE,
            "InvalidArgumentError",
            "{{function_node __wrapped__GatherV2_device_/job:localhost/replica:0/task:0/device:CPU:0}} "
            "indices[0] = 5 is not in [0, 3)",
        ),
        (
            JAX_ISSUE,
            "TypeError",
            "Indexer must have integer or boolean type, got indexer with type float32 at position 0, indexer value "
            "Traced<ShapedArray(float32[], weak_type=True)>",
        ),
        (KERAS_ISSUE, "ValueError", 'Exception encountered when calling layer "dense" (type Dense).'),
        (CHAINED, "RuntimeError", "Error(s) in loading state_dict for Net:"),
    ],
    ids=["pytorch", "tensorflow", "jax-chained-in-details", "keras-pre-in-details", "during-handling"],
)
def test_the_last_tracebacks_exception_of_real_issue_bodies(body, exception_type, message):
    found = expectation_from_text(body, source="report body")
    assert found == Expectation(exception_type=exception_type, message_pattern=message, source="report body")


def test_no_traceback_no_expectation():
    assert expectation_from_text("It returns NaN on GPU.\n\n```python\nx = 1\n```", source="report body") is None
    assert expectation_from_text("", source="report body") is None
    assert last_traceback("RuntimeError: mentioned in prose") == ""


def test_an_expectation_taken_from_an_issue_matches_the_run_that_shows_the_bug():
    taken = expectation_from_text(TENSORFLOW_ISSUE, source="report body")
    run = (
        "2024-01-01 10:00:00.000 I tensorflow/core/platform/cpu_feature_guard.cc:193] This TensorFlow binary ...\n"
        "Traceback (most recent call last):\n"
        '  File "/scratch/main.py", line 2, in <module>\n'
        "    tf.gather(tf.constant([1., 2., 3., 4.]), [9])\n"
        '  File "/env/lib/python3.11/site-packages/tensorflow/python/framework/ops.py", line 5983, in raise\n'
        "    raise core._status_to_exception(e) from None\n"
        "tensorflow.python.framework.errors_impl.InvalidArgumentError: {{function_node "
        "__wrapped__GatherV2_device_/job:localhost/replica:0/task:0/device:CPU:0}} indices[0] = 9 is not in "
        "[0, 4) [Op:GatherV2] name: \n"
    )
    observed = observed_failure(run, exit_code=1, signal=None)
    assert observed.exception_type == "InvalidArgumentError"
    assert compare(taken, observed) == (True, "")
    other = observed_failure(run.replace("indices[0] = 9 is not in", "paddings must be"), exit_code=1, signal=None)
    matched, why = compare(taken, other)
    assert not matched and "does not match" in why


def test_observed_failure_of_a_syntax_error_and_a_signal():
    syntax = '  File "/scratch/main.py", line 1\n    def f(:\n          ^\nSyntaxError: invalid syntax\n'
    assert observed_failure(syntax, exit_code=1, signal=None).exception_type == "SyntaxError"
    killed = observed_failure("Segmentation fault", exit_code=None, signal=11)
    assert killed.exception_type == "" and killed.describe() == "killed by signal SIGSEGV"
    assert observed_failure("", exit_code=2, signal=None).describe() == "exit code 2 without a traceback"

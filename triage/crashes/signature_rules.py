"""Which stack frames are glue (dropped before a crash signature is made), per framework, as data.

A frame is matched by its normalised key (see ``triage.crashes.signatures``):

    Python frame   ``py:<module path>:<function>``  e.g. ``py:tensorflow/python/eager/execute.py:quick_execute``
    native frame   ``c:<function>``                  e.g. ``c:c10::Dispatcher::call``

Paths are already cut to the part after ``site-packages/`` / ``dist-packages/`` (the Python
standard library becomes ``stdlib/...``), line numbers, addresses, template arguments and
anonymous namespaces are gone. Each rule is ``(regex, reason)``: the reason is shown on the crash
group page next to every frame it dropped. Adding a framework means adding a list here;
``rules_for(framework)`` gives the common rules plus the framework's own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache


@dataclass(frozen=True, slots=True)
class GlueRule:
    pattern: str
    reason: str


def _r(pattern: str, reason: str) -> GlueRule:
    return GlueRule(pattern, reason)


# Frames that appear in every framework's traces and never say where a bug is.
COMMON = [
    _r(r"^py:<frozen importlib", "Python import machinery (<frozen importlib...>)"),
    _r(r"^py:[^:]*:<module>$", "script top level: differs for every reproducer"),
    _r(r"^py:stdlib/", "Python standard library (runpy, threading, contextlib...)"),
    _r(
        r"^py:.*(?i:freefuzz|docter|deeprel|titanfuzz|lemon|audee)",
        "fuzzer harness (FreeFuzz/DocTer/DeepREL/TitanFuzz...)",
    ),
    _r(r"^py:(?:.*/)?(?:fuzz\w*|harness\w*|driver\w*|run_?test\w*|run_\w+)\.py:", "fuzzer harness script"),
    _r(r"^c:\?*$", "no symbol: an address only"),
    _r(r"^c:pybind11::", "pybind11 trampoline (argument conversion and dispatch)"),
    _r(r"^c:_?Py[A-Z_]\w*", "CPython interpreter"),
    _r(
        r"^c:(?:cfunction_call|cfunction_vectorcall\w*|method_vectorcall\w*|slot_tp_call|function_code_fastpath|"
        r"_?PyObject_\w+|vectorcall\w*|call_function|do_call_core|pymain_\w+|Py_BytesMain|run_mod|run_eval_code_obj)$",
        "CPython interpreter",
    ),
    _r(r"^c:(?:__libc_start_main|__libc_start_call_main|_start|main|start_thread|clone3?)$", "process/thread start-up"),
    _r(r"^c:(?:__GI_)?(?:raise|abort|__pthread_kill\w*|pthread_kill)$", "libc signal and abort"),
    _r(
        r"^c:(?:__cxa_throw|__cxa_rethrow|std::terminate|__gnu_cxx::__verbose_terminate_handler|std::rethrow_exception)",
        "C++ exception runtime",
    ),
    _r(r"^c:(?:__asan|__sanitizer|__interceptor_|__ubsan)", "sanitizer runtime"),
    _r(r"^c:(?:ffi_call\w*|_ctypes_callproc|PyCFuncPtr_call)$", "ctypes/libffi call glue"),
    _r(r"^c:std::(?:_Function_handler|function)", "std::function call glue"),
]

PYTORCH = [
    _r(r"^c:c10::Error::Error", "error object construction"),
    _r(
        r"^c:c10::(?:detail::torchCheckFail|detail::torchInternalAssertFail|detail::torchCheckMsgImpl)",
        "TORCH_CHECK failure helper",
    ),
    _r(r"^c:c10::Dispatcher::", "PyTorch dispatcher"),
    _r(r"^c:c10::impl::", "PyTorch dispatcher (boxing/unboxing wrappers)"),
    _r(
        r"^c:c10::(?:BoxedKernel|KernelFunction|OperatorHandle|TypedOperatorHandle)", "PyTorch dispatcher (kernel call)"
    ),
    _r(r"^c:at::_ops::", "generated operator entry point (at::_ops::...::call/redispatch)"),
    _r(r"^c:at::(?:wrapper_\w*|\w*_wrapper\w*)$", "generated per-backend kernel wrapper"),
    _r(r"^c:torch::autograd::VariableType::", "autograd wrapper (VariableType)"),
    _r(r"^c:torch::ADInplaceOrView::", "autograd in-place/view wrapper"),
    _r(r"^c:torch::autograd::THPVariable_", "Python binding of a tensor function"),
    _r(r"^c:torch::(?:PythonArgParser|FunctionSignature)", "Python argument parsing"),
    _r(r"^py:torch/nn/modules/module\.py:(?:_call_impl|_wrapped_call_impl|__call__)$", "nn.Module call machinery"),
    _r(r"^py:torch/overrides\.py:", "__torch_function__ dispatch"),
    _r(r"^py:torch/_tensor\.py:(?:__torch_function__|wrapped)$", "__torch_function__ dispatch"),
    _r(r"^py:torch/utils/_contextlib\.py:", "decorator plumbing (no_grad...)"),
    _r(r"^py:torch/_ops\.py:__call__$", "torch.ops call plumbing"),
]

TENSORFLOW = [
    _r(
        r"^py:tensorflow/python/eager/execute\.py:(?:quick_execute|execute\w*)$",
        "TensorFlow eager execute/quick_execute",
    ),
    _r(r"^py:tensorflow/python/framework/op_def_library\.py:", "op-def library (graph op construction)"),
    _r(r":_apply_op_helper$", "op-def library (_apply_op_helper)"),
    _r(r"^py:tensorflow/python/util/traceback_utils\.py:", "traceback filtering wrapper (error_handler)"),
    _r(r"^py:tensorflow/python/util/dispatch\.py:", "API dispatch decorator"),
    _r(r"^py:tensorflow/python/util/deprecation\.py:", "deprecation decorator"),
    _r(
        r"^py:tensorflow/python/framework/ops\.py:(?:raise_from_not_ok_status|_create_c_op|create_op|_create_op_internal)$",
        "op creation / status-to-exception glue",
    ),
    _r(r"^py:tensorflow/python/framework/func_graph\.py:", "tf.function tracing machinery"),
    _r(
        r"^py:tensorflow/python/eager/(?:polymorphic_function|def_function|function)\.py:", "tf.function call machinery"
    ),
    _r(r"^c:(?:tensorflow|tsl)::CurrentStackTrace", "stack trace printer"),
    _r(r"^c:(?:tensorflow|tsl)::internal::LogMessage", "fatal log message (Check failed reporter)"),
    _r(r"^c:(?:tensorflow|tsl)::(?:errors::|Status::|TfCheckOpHelper|MakeCheckOpString)", "status/check helpers"),
    _r(r"^c:TFE_(?:Py_)?\w*Execute\w*", "eager C API execute"),
    _r(r"^c:TFE_Py_\w+", "eager Python binding"),
    _r(
        r"^c:tensorflow::(?:EagerExecute|EagerKernelExecute|EagerLocalExecute|KernelAndDeviceOp::Run|"
        r"ExecuteNode::Run|EagerOperation::Execute|EagerExecutor::\w+|ThreadPoolDevice::Compute|"
        r"OpKernelContext::CtxFailure\w*|OpKernelContext::SetStatus)",
        "eager runtime execute path",
    ),
    _r(r"^c:(?:tensorflow|tsl)::port::", "platform helpers"),
]

JAX = [
    _r(r"^py:jax/_src/traceback_util\.py:", "traceback filtering wrapper"),
    _r(r"^py:jax/_src/(?:api|api_util|pjit|dispatch|profiler|linear_util)\.py:", "jit/dispatch machinery"),
    _r(r"^py:jax/_src/core\.py:(?:bind\w*|process_primitive|call_impl|eval_jaxpr)$", "primitive binding"),
    _r(r"^py:jax/_src/interpreters/(?:pxla|xla|mlir|partial_eval)\.py:", "compilation/interpreter machinery"),
    _r(r"^py:jax/_src/compiler\.py:", "XLA compile wrapper"),
    _r(r"^c:xla::(?:PjRt\w*::Execute\w*|PyLoadedExecutable::\w+|ExecuteHelper)", "XLA executable launch"),
]

MXNET = [
    _r(r"^py:mxnet/_ctypes/ndarray\.py:_imperative_invoke$", "imperative invoke glue"),
    _r(r"^py:mxnet/base\.py:check_call$", "C API status check"),
    _r(r"^py:mxnet/(?:ndarray|symbol)/register\.py:", "generated operator registration"),
    _r(r"^c:dmlc::(?:LogMessageFatal|LogMessage|StackTrace)", "fatal log message"),
    _r(r"^c:MXImperativeInvoke\w*$", "C API imperative invoke"),
    _r(
        r"^c:mxnet::(?:Imperative::Invoke\w*|imperative::(?:PushFCompute|PushOperator|InvokeOperator)\w*)",
        "imperative runtime",
    ),
    _r(r"^c:mxnet::engine::", "execution engine"),
]

RULES: dict[str, list[GlueRule]] = {
    "pytorch": PYTORCH,
    "tensorflow": TENSORFLOW,
    "jax": JAX,
    "mxnet": MXNET,
}


@cache
def rules_for(framework: str) -> tuple[tuple[re.Pattern, str], ...]:
    """Compiled (pattern, reason) pairs for a framework: the common rules then its own.

    An unknown framework gets the common rules and every framework's rules (a trace from a
    wrapper library can pass through any of them)."""
    extra = RULES.get(framework)
    if extra is None:
        extra = [rule for rules in RULES.values() for rule in rules]
    return tuple((re.compile(rule.pattern), rule.reason) for rule in [*COMMON, *extra])

import pytest

from tests.fakes.crash_traces import BUGS, crash_report
from triage.crashes.signature_rules import RULES, rules_for
from triage.crashes.signatures import normalise_function, normalise_message, normalise_path, parse, sign


def _sign(report):
    return sign(
        framework=report["framework"],
        oracle=report["oracle"],
        api=report.get("api", ""),
        message=report.get("message", ""),
        stack_trace=report.get("stack_trace", ""),
    )


@pytest.mark.parametrize("bug", sorted(BUGS))
def test_variants_of_one_bug_share_a_signature(bug):
    variants = [crash_report(bug, v) for v in range(6)]
    # the variants really differ: addresses, line numbers, versions, paths, glue
    assert len({r["stack_trace"] for r in variants}) == 6
    assert len({r["framework_version"] for r in variants}) > 1
    assert len({_sign(r).signature for r in variants}) == 1


def test_every_bug_has_its_own_signature():
    signatures = {bug: _sign(crash_report(bug, 0)).signature for bug in BUGS}
    assert len(set(signatures.values())) == len(BUGS)


@pytest.mark.parametrize(
    ("bug", "other"),
    [
        ("torch_conv2d_weight", "torch_conv2d_groups"),  # same glue, same top frame
        ("tf_resize_check_failed", "tf_quantize_check_failed"),  # same glue, same top frame and check
        ("tf_conv2d_depth", "tf_conv2d_negative_output"),  # same op, same glue-only Python trace
    ],
)
def test_different_bugs_sharing_glue_or_top_frame_do_not_group(bug, other):
    first, second = _sign(crash_report(bug, 1)), _sign(crash_report(other, 1))
    assert first.frames and second.frames
    assert first.signature != second.signature


def test_pytorch_signature_keeps_aten_frames_and_drops_dispatcher_with_reasons():
    signed = _sign(crash_report("torch_conv2d_weight", 1))
    assert signed.crash_type == "RuntimeError"
    assert signed.kept_frames == [
        "c:at::native::check_shape_forward",
        "c:at::native::_convolution",
        "c:at::native::convolution",
    ]
    reasons = {f.key: f.reason for f in signed.frames if f.status == "dropped"}
    assert "error object construction" in reasons["c:c10::Error::Error"]
    assert "dispatcher" in reasons["c:c10::impl::wrap_kernel_functor_unboxed_::call"]
    assert "autograd" in reasons["c:torch::autograd::VariableType::conv2d"]
    assert "generated" in reasons["c:at::_ops::conv2d::call"]
    assert any("harness" in r for r in reasons.values())
    assert not signed.from_message


def test_tensorflow_native_check_failure_parses_the_begin_stack_trace_block():
    signed = _sign(crash_report("tf_resize_check_failed", 2))
    assert signed.crash_type == "CheckFailed"
    assert signed.kept_frames[0] == "c:tensorflow::TensorShapeBase::dim_size"
    assert "c:tensorflow::ResizeBilinearOp::Compute" in signed.kept_frames  # anonymous namespace + <...> gone
    dropped = {f.key for f in signed.frames if f.status == "dropped"}
    assert {"c:TFE_Execute", "c:tensorflow::EagerExecute", "c:pybind11::cpp_function::dispatcher"} <= dropped


def test_tensorflow_filtered_traceback_is_all_glue_and_signed_by_op_and_message():
    signed = _sign(crash_report("tf_conv2d_depth", 0))
    assert signed.crash_type == "InvalidArgumentError"
    assert signed.from_message
    assert "[Op:Conv2D]" in signed.text and "function_node" not in signed.text
    reasons = {f.key: f.reason for f in signed.frames}
    assert "quick_execute" in reasons["py:tensorflow/python/eager/execute.py:quick_execute"]


def test_mxnet_and_asan_traces():
    mx = _sign(crash_report("mxnet_convolution_shape", 1))
    assert mx.crash_type == "MXNetError"
    assert mx.kept_frames[0] == "c:mxnet::op::ConvolutionShape"
    asan = _sign(crash_report("asan_gather_overflow", 1))
    assert asan.crash_type == "AddressSanitizer: heap-buffer-overflow"
    assert asan.kept_frames == [
        "c:tensorflow::functor::HandleCopies",
        "c:tensorflow::functor::GatherFunctorCPU::operator()",
        "c:tensorflow::GatherOp::Compute",
    ]


def test_jax_keeps_the_lax_frame():
    signed = _sign(crash_report("jax_conv_dimension", 3))
    assert signed.crash_type == "XlaRuntimeError"
    assert signed.kept_frames == ["py:jax/_src/lax/convolution.py:conv_general_dilated"]


def test_gdb_style_frames():
    trace = (
        "Program received signal SIGSEGV, Segmentation fault.\n"
        "#0  0x00007ffff7a42428 in tensorflow::Foo<int>::Bar(int) (this=0x1) at tensorflow/core/foo.cc:54\n"
        "#1 0x00007fff in mxnet::op::Baz(float const*) (src/operator/baz.cc:12)\n"
        "#2 0x7f (/lib/x86_64-linux-gnu/libc.so.6+0x29d90)\n"
    )
    crash_type, _, frames = parse(trace)
    assert crash_type == "SIGSEGV"
    assert [f.key for f in frames] == ["c:tensorflow::Foo::Bar", "c:mxnet::op::Baz", "c:"]


def test_unparseable_trace_is_signed_by_message_and_marked():
    first = sign(
        framework="pytorch", oracle="crash", api="torch.add", message="Segmentation fault 0x7f12", stack_trace=""
    )
    second = sign(
        framework="pytorch", oracle="crash", api="torch.add", message="Segmentation fault 0x7f99", stack_trace="garbage"
    )
    assert first.from_message and second.from_message
    assert first.signature == second.signature


@pytest.mark.parametrize("oracle", ["cpu_gpu_mismatch", "version_mismatch", "nan_inf"])
def test_stackless_oracles_sign_by_oracle_api_and_normalised_message(oracle):
    a = sign(framework="pytorch", oracle=oracle, api="torch.matmul", message="max diff 0.0312 at [3, 4]")
    b = sign(framework="pytorch", oracle=oracle, api="torch.matmul", message="max diff 12.5 at [1, 7]")
    c = sign(framework="pytorch", oracle=oracle, api="torch.bmm", message="max diff 0.0312 at [3, 4]")
    assert a.signature == b.signature != c.signature
    assert a.text.startswith("framework: pytorch\noracle: " + oracle)


def test_timeout_without_trace_is_stackless():
    a = sign(framework="jax", oracle="timeout", api="jax.numpy.linalg.svd", message="no result after 60 s")
    b = sign(framework="jax", oracle="timeout", api="jax.numpy.linalg.svd", message="no result after 120 s")
    assert a.signature == b.signature and "oracle: timeout" in a.text


def test_normalisers():
    assert normalise_function("void Eigen::internal::TensorExecutor<Foo<1>, Eigen::ThreadPoolDevice>::run(int)") == (
        "Eigen::internal::TensorExecutor::run"
    )
    assert normalise_function("std::operator<<(std::ostream&, char const*)") == "std::operator<<"
    assert (
        normalise_function("foo::{lambda(long, long)#1}::operator()(long, long) const") == "foo::{lambda}::operator()"
    )
    assert normalise_function("bar.isra.0") == "bar"
    assert normalise_path("/home/u/src/tensorflow/tensorflow/python/ops/nn_ops.py") == "tensorflow/python/ops/nn_ops.py"
    assert normalise_path("/usr/lib/python3.10/runpy.py") == "stdlib/runpy.py"
    assert (
        normalise_message("bad value 0x7f3a at /tmp/x/y.py:12 shape [1, 2, 3]") == "bad value 0x? at <path> shape [N]"
    )


def test_rules_are_data_with_reasons():
    for rules in RULES.values():
        assert all(rule.reason and rule.pattern for rule in rules)
    assert len(rules_for("unknown-framework")) > len(rules_for("pytorch"))

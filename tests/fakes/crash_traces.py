"""Crash traces shaped like real TensorFlow, PyTorch, JAX, MXNet and ASan output.

Each bug is a function ``(variant: int) -> dict`` giving a crash report: variants of one bug
differ in addresses, line numbers, framework versions, build/install paths and glue frames,
as the same bug does when a fuzzer hits it again and again. ``crash_report(bug, variant, **over)``
turns one into a full API payload.
"""

from __future__ import annotations

PY_ROOTS = [
    "/usr/local/lib/python3.8/dist-packages",
    "/opt/conda/lib/python3.10/site-packages",
    "/home/fuzz/.venv/lib/python3.9/site-packages",
]
HARNESS = [
    ("/home/fuzz/FreeFuzz/src/run_{fw}.py", "run_one"),
    ("/root/DocTer/docter/run_{fw}.py", "execute"),
    ("/work/TitanFuzz/ev_generation.py", "run_program"),
]


def _addr(variant: int, base: int) -> str:
    return f"0x{(0x7F3A00000000 + base * 4099 + variant * 0x1F3D7):x}"


def _harness(variant: int, fw: str) -> str:
    path, func = HARNESS[variant % len(HARNESS)]
    return (
        f'  File "{path.format(fw=fw)}", line {40 + variant}, in <module>\n'
        f"    {func}(code)\n"
        f'  File "{path.format(fw=fw)}", line {20 + variant}, in {func}\n'
        f"    exec(code)\n"
        f'  File "<string>", line {3 + variant % 4}, in <module>\n'
    )


# --------------------------------------------------------------------------- TensorFlow


def tf_conv2d_depth(variant: int) -> dict:
    """InvalidArgumentError from Conv2D through the eager fast path (glue differs per version)."""
    root = PY_ROOTS[variant % 3]
    version = ["2.10.0", "2.11.1", "2.12.0", "2.9.3"][variant % 4]
    dispatch = (
        f'  File "{root}/tensorflow/python/util/dispatch.py", line {1170 + variant}, in op_dispatch_handler\n'
        "    return dispatch_target(*args, **kwargs)\n"
        if variant % 2
        else ""
    )
    device = ["CPU", "GPU"][variant % 2]
    trace = (
        "Traceback (most recent call last):\n"
        + _harness(variant, "tf")
        + f'  File "{root}/tensorflow/python/util/traceback_utils.py", line {153 + variant}, in error_handler\n'
        "    raise e.with_traceback(filtered_tb) from None\n"
        + dispatch
        + f'  File "{root}/tensorflow/python/eager/execute.py", line {52 + variant}, in quick_execute\n'
        "    tensors = pywrap_tfe.TFE_Py_Execute(ctx._handle, device_name, op_name,\n"
        "tensorflow.python.framework.errors_impl.InvalidArgumentError: {{function_node "
        f"__wrapped__Conv2D_device_/job:localhost/replica:0/task:0/device:{device}:0}}}} "
        f"input depth must be evenly divisible by filter depth: {3 + variant} vs {2 + variant} [Op:Conv2D] name: \n"
    )
    return {
        "framework": "tensorflow",
        "framework_version": version,
        "api": "tf.nn.conv2d",
        "oracle": "exception",
        "device": device.lower(),
        "message": f"input depth must be evenly divisible by filter depth: {3 + variant} vs {2 + variant} [Op:Conv2D]",
        "stack_trace": trace,
    }


def tf_conv2d_negative_output(variant: int) -> dict:
    """Another Conv2D bug: the same glue and the same op, a different check."""
    report = tf_conv2d_depth(variant)
    report["stack_trace"] = report["stack_trace"].replace(
        f"input depth must be evenly divisible by filter depth: {3 + variant} vs {2 + variant}",
        f"Computed output size would be negative: -{variant + 1} [input_size: {variant}, effective_filter_size: 3]",
    )
    report["message"] = "Computed output size would be negative"
    return report


def _tf_native(variant: int, check: str, frames: list[str]) -> dict:
    version = ["2.11.0", "2.12.1", "2.13.0"][variant % 3]
    build = ["/tmpfs/src/tf", "/home/builder/tensorflow", "/proc/self/cwd"][variant % 3]
    glue = ["tensorflow::OpKernelContext::CtxFailure(tsl::Status const&)"] if variant % 2 else []
    body = "\n".join(
        [
            "tensorflow::CurrentStackTrace[abi:cxx11]()",
            "tsl::internal::LogMessageFatal::~LogMessageFatal()",
            *frames,
            *glue,
            "tensorflow::ThreadPoolDevice::Compute(tensorflow::OpKernel*, tensorflow::OpKernelContext*)",
            "tensorflow::KernelAndDeviceOp::Run(tensorflow::ScopedStepContainer*, tensorflow::EagerKernelArgs const&)",
            "tensorflow::EagerKernelExecute(tensorflow::EagerContext*, absl::lts_20220623::InlinedVector<>)",
            "tensorflow::ExecuteNode::Run()",
            "tensorflow::EagerExecutor::SyncExecute(tensorflow::EagerNode*)",
            "tensorflow::EagerExecute(tensorflow::EagerOperation*, tensorflow::TensorHandle**, int*)",
            "TFE_Execute",
            "TFE_Py_FastPathExecute_C(_object*)",
            "pybind11::cpp_function::dispatcher(_object*, _object*, _object*)",
            "_PyObject_MakeTpCall",
            "_PyEval_EvalFrameDefault",
            "Py_RunMain",
            "__libc_start_main",
            "_start",
        ]
    )
    trace = (
        f"2023-05-{10 + variant:02d} 12:0{variant % 10}:11.{123456 + variant}: "
        f"F {build}/tensorflow/core/{check}\n"
        "*** Begin stack trace ***\n\t" + body.replace("\n", "\n\t") + "\n*** End stack trace ***\n"
        "Aborted (core dumped)\n"
    )
    return {
        "framework": "tensorflow",
        "framework_version": version,
        "oracle": "crash",
        "device": "cpu",
        "stack_trace": trace,
    }


def tf_resize_check_failed(variant: int) -> dict:
    report = _tf_native(
        variant,
        f"framework/tensor_shape.cc:{356 + variant}] Check failed: d < dims() ({variant + 1} vs. {variant + 1})",
        [
            "tensorflow::TensorShapeBase<tensorflow::TensorShape>::dim_size(int) const",
            "tensorflow::(anonymous namespace)::ResizeBilinearOp<Eigen::ThreadPoolDevice, float>::Compute("
            "tensorflow::OpKernelContext*)",
            "tensorflow::internal::ResizeHelper::ValidateAndCalculateOutputSize(tensorflow::OpKernelContext*)",
        ],
    )
    report.update(api="tf.image.resize", message="Check failed: d < dims()")
    return report


def tf_quantize_check_failed(variant: int) -> dict:
    """A different bug with the same top frame (dim_size) and the same glue."""
    report = _tf_native(
        variant,
        f"framework/tensor_shape.cc:{356 + variant}] Check failed: d < dims() ({variant} vs. {variant})",
        [
            "tensorflow::TensorShapeBase<tensorflow::TensorShape>::dim_size(int) const",
            "tensorflow::QuantizeAndDequantizeV3Op<Eigen::ThreadPoolDevice, double>::Compute("
            "tensorflow::OpKernelContext*)",
            "tensorflow::functor::QuantizeAndDequantizePerChannelFunctor<Eigen::ThreadPoolDevice, double>::operator()"
            "(Eigen::ThreadPoolDevice const&)",
        ],
    )
    report.update(api="tf.quantization.quantize_and_dequantize_v2", message="Check failed: d < dims()")
    return report


# --------------------------------------------------------------------------- PyTorch


def _torch(variant: int, *, message: str, frames: list[str], api: str, py_func: str) -> dict:
    root = PY_ROOTS[variant % 3]
    version = ["1.13.1", "2.0.1", "2.1.0"][variant % 3]
    lib = f"{root}/torch/lib"
    autograd = (
        ["torch::autograd::VariableType::(anonymous namespace)::conv2d(c10::DispatchKeySet, at::Tensor const&)"]
        if variant % 2
        else []
    )
    cpp = [
        "c10::Error::Error(c10::SourceLocation, std::__cxx11::basic_string<char, std::char_traits<char>, "
        "std::allocator<char> >)",
        "c10::detail::torchCheckFail(char const*, char const*, unsigned int, std::__cxx11::basic_string<char> const&)",
        *frames,
        "at::(anonymous namespace)::(anonymous namespace)::wrapper_CompositeImplicitAutograd__conv2d("
        "at::Tensor const&, at::Tensor const&)",
        "c10::impl::wrap_kernel_functor_unboxed_<c10::impl::detail::WrapFunctionIntoFunctor_<>, at::Tensor ()>"
        "::call(c10::OperatorKernel*, c10::DispatchKeySet, at::Tensor const&)",
        *autograd,
        "at::_ops::conv2d::call(at::Tensor const&, at::Tensor const&, c10::optional<at::Tensor> const&)",
        "torch::autograd::THPVariable_conv2d(_object*, _object*, _object*)",
        "<unknown function>",
        "_PyEval_EvalFrameDefault",
        "__libc_start_main",
    ]
    rendered = "\n".join(
        f"frame #{i}: {f} + 0x{0x8C + 7 * i + variant:x} "
        f"({_addr(variant, i)} in {lib}/{'libc10.so' if i < 2 else 'libtorch_cpu.so'})"
        for i, f in enumerate(cpp)
    )
    module = (
        f'  File "{root}/torch/nn/modules/module.py", line {1501 + variant}, in _call_impl\n'
        "    return forward_call(*args, **kwargs)\n"
        if variant % 2
        else ""
    )
    trace = (
        "Traceback (most recent call last):\n"
        + _harness(variant, "torch")
        + module
        + f'  File "{root}/torch/nn/functional.py", line {2450 + variant}, in {py_func}\n'
        f"    return torch.{py_func}(input, weight)\n"
        f"RuntimeError: {message}\n"
        f"Exception raised from check_shape_forward at /opt/pytorch/build-{variant}/aten/src/ATen/native/"
        f"Convolution.cpp:{640 + variant} (most recent call first):\n" + rendered + "\n"
    )
    return {
        "framework": "pytorch",
        "framework_version": version,
        "api": api,
        "oracle": "exception",
        "device": ["cpu", "cuda"][variant % 2],
        "message": message,
        "stack_trace": trace,
    }


def torch_conv2d_weight(variant: int) -> dict:
    return _torch(
        variant,
        message=f"Expected {3 + variant % 2}-dimensional input for 4-dimensional weight [64, 3, 7, 7], "
        f"but got {2 + variant % 2}-dimensional input of size [1, {224 + variant}] instead",
        frames=[
            "at::native::(anonymous namespace)::check_shape_forward(at::Tensor const&, c10::ArrayRef<long> const&)",
            "at::native::_convolution(at::Tensor const&, at::Tensor const&, c10::optional<at::Tensor> const&, bool)",
            "at::native::convolution(at::Tensor const&, at::Tensor const&, c10::optional<at::Tensor> const&)",
        ],
        api="torch.nn.functional.conv2d",
        py_func="conv2d",
    )


def torch_conv2d_groups(variant: int) -> dict:
    """A different bug with the same glue and the same top frame (check_shape_forward)."""
    return _torch(
        variant,
        message=f"Given groups={variant + 2}, weight of size [4, 4, 3, 3], expected input[1, 3, 8, 8] to have "
        f"{4 * (variant + 2)} channels, but got 3 channels instead",
        frames=[
            "at::native::(anonymous namespace)::check_shape_forward(at::Tensor const&, c10::ArrayRef<long> const&)",
            "at::native::(anonymous namespace)::check_input_same_type_as_parameters(at::Tensor const&)",
            "at::native::_convolution_mode(at::Tensor const&, at::Tensor const&, c10::string_view)",
        ],
        api="torch.nn.functional.conv2d",
        py_func="conv2d",
    )


# --------------------------------------------------------------------------- JAX


def jax_conv_dimension(variant: int) -> dict:
    root = PY_ROOTS[variant % 3]
    version = ["0.4.13", "0.4.20", "0.4.23"][variant % 3]
    pjit = (
        f'  File "{root}/jax/_src/pjit.py", line {1153 + variant}, in _pjit_call_impl_python\n'
        "    return compiled.unsafe_call(*args), compiled\n"
        if variant % 2
        else ""
    )
    trace = (
        "Traceback (most recent call last):\n"
        + _harness(variant, "jax")
        + f'  File "{root}/jax/_src/traceback_util.py", line {179 + variant}, in reraise_with_filtered_traceback\n'
        "    return fun(*args, **kwargs)\n"
        f'  File "{root}/jax/_src/lax/convolution.py", line {157 + variant}, in conv_general_dilated\n'
        "    return conv_general_dilated_p.bind(\n"
        f'  File "{root}/jax/_src/core.py", line {380 + variant}, in bind\n'
        "    return self.bind_with_trace(find_top_trace(args), args, params)\n"
        + pjit
        + f'  File "{root}/jax/_src/dispatch.py", line {142 + variant}, in apply_primitive\n'
        "    outs = fun(*args)\n"
        "jaxlib.xla_extension.XlaRuntimeError: INVALID_ARGUMENT: Window dimensions {"
        f"{variant + 3}, {variant + 3}}} exceed input size {{{variant + 1}, {variant + 1}}} in conv_general_dilated\n"
    )
    return {
        "framework": "jax",
        "framework_version": version,
        "api": "jax.lax.conv_general_dilated",
        "oracle": "exception",
        "device": "cpu",
        "message": "INVALID_ARGUMENT: Window dimensions exceed input size",
        "stack_trace": trace,
    }


# --------------------------------------------------------------------------- MXNet


def mxnet_convolution_shape(variant: int) -> dict:
    root = ["/usr/local/lib/python3.8/site-packages", "/opt/conda/lib/python3.7/site-packages"][variant % 2]
    version = ["1.9.1", "1.8.0", "1.7.0"][variant % 3]
    lib = f"{root}/mxnet/libmxnet.so"
    bt = [
        f"{lib}(+0x{0x307D3B + variant * 16:x})",
        f"{lib}(dmlc::LogMessageFatal::~LogMessageFatal()+0x{0x7F + variant:x})",
        f"{lib}(mxnet::op::ConvolutionShape(nnvm::NodeAttrs const&, std::vector<mxnet::TShape, "
        f"std::allocator<mxnet::TShape> >*, std::vector<mxnet::TShape, std::allocator<mxnet::TShape> >*)"
        f"+0x{0x1B5 + variant:x})",
        f"{lib}(mxnet::imperative::SetShapeType(mxnet::Context const&, nnvm::NodeAttrs const&)+0x{0x1B6:x})",
        f"{lib}(mxnet::Imperative::Invoke(mxnet::Context const&, nnvm::NodeAttrs const&)+0x{0x6C + variant:x})",
        f"{lib}(MXImperativeInvokeImpl(void*, int, void**, int*, void***, int, char const**)+0x{0x5D1:x})",
        f"{lib}(MXImperativeInvokeEx+0x{0x62 + variant:x})",
        f"/usr/lib/x86_64-linux-gnu/libffi.so.7(+0x{0x6FF5 + variant:x})",
        "/usr/lib/x86_64-linux-gnu/libffi.so.7(+0x640a)",
    ]
    if variant % 2:
        bt.insert(1, f"{lib}(dmlc::StackTrace[abi:cxx11](unsigned long)+0x{0x42 + variant:x})")
    frames = "\n".join(f"  [bt] ({i}) {f} [{_addr(variant, i)}]" for i, f in enumerate(bt))
    trace = (
        "Traceback (most recent call last):\n"
        + _harness(variant, "mxnet")
        + '  File "<string>", line 48, in Convolution\n'
        + f'  File "{root}/mxnet/_ctypes/ndarray.py", line {82 + variant}, in _imperative_invoke\n'
        "    ctypes.byref(out_stypes)))\n"
        f'  File "{root}/mxnet/base.py", line {246 + variant}, in check_call\n'
        "    raise get_last_ffi_error()\n"
        f"mxnet.base.MXNetError: [10:5{variant % 10}:10] src/operator/nn/convolution.cc:{152 + variant}: "
        f"Check failed: dshp.ndim() == 4U ({variant + 2} vs. 4) : Input data should be 4D in batch-num_filter-y-x\n"
        "Stack trace:\n" + frames + "\n"
    )
    return {
        "framework": "mxnet",
        "framework_version": version,
        "api": "mxnet.nd.Convolution",
        "oracle": "exception",
        "device": "cpu",
        "message": "Check failed: dshp.ndim() == 4U",
        "stack_trace": trace,
    }


# --------------------------------------------------------------------------- ASan


def asan_gather_overflow(variant: int) -> dict:
    build = ["/tensorflow", "/home/ci/build/tf-src", "/tmp/bazel-out/k8-opt/bin"][variant % 3]
    pc = _addr(variant, 1)
    frames = [
        f"{pc} in tensorflow::functor::HandleCopies<float, int, long, 20>(tensorflow::OpKernelContext*) "
        f"{build}/tensorflow/core/kernels/gather_functor.h:{91 + variant}:7",
        f"{_addr(variant, 2)} in tensorflow::functor::GatherFunctorCPU<float, int>::operator()"
        f"(tensorflow::OpKernelContext*) {build}/tensorflow/core/kernels/gather_functor.h:{150 + variant}:18",
        f"{_addr(variant, 3)} in tensorflow::GatherOp<Eigen::ThreadPoolDevice, float, int>::Compute"
        f"(tensorflow::OpKernelContext*) {build}/tensorflow/core/kernels/gather_op.cc:{180 + variant}:9",
        f"{_addr(variant, 4)} in tensorflow::ThreadPoolDevice::Compute(tensorflow::OpKernel*, "
        f"tensorflow::OpKernelContext*) {build}/tensorflow/core/common_runtime/threadpool_device.cc:72",
        f"{_addr(variant, 5)} (/lib/x86_64-linux-gnu/libc.so.6+0x{0x29D90 + variant:x})",
    ]
    if variant % 2:
        frames.insert(
            0, f"{_addr(variant, 0)} in __asan_memcpy (/usr/lib/llvm-14/lib/clang/14/lib/libclang_rt.asan.so+0x9c)"
        )
    trace = (
        "=================================================================\n"
        f"=={4000 + variant}==ERROR: AddressSanitizer: heap-buffer-overflow on address {_addr(variant, 9)} "
        f"at pc {pc} bp 0x7ffd sp 0x7ffd\n"
        f"READ of size {4 * (variant + 1)} at {_addr(variant, 9)} thread T0\n"
        + "\n".join(f"    #{i} {f}" for i, f in enumerate(frames))
        + "\n"
    )
    return {
        "framework": "tensorflow",
        "framework_version": ["2.12.0", "2.13.0"][variant % 2],
        "api": "tf.gather",
        "oracle": "memory",
        "device": "cpu",
        "message": "heap-buffer-overflow",
        "stack_trace": trace,
    }


BUGS = {
    "tf_conv2d_depth": tf_conv2d_depth,
    "tf_conv2d_negative_output": tf_conv2d_negative_output,
    "tf_resize_check_failed": tf_resize_check_failed,
    "tf_quantize_check_failed": tf_quantize_check_failed,
    "torch_conv2d_weight": torch_conv2d_weight,
    "torch_conv2d_groups": torch_conv2d_groups,
    "jax_conv_dimension": jax_conv_dimension,
    "mxnet_convolution_shape": mxnet_convolution_shape,
    "asan_gather_overflow": asan_gather_overflow,
}


def crash_report(bug: str, variant: int = 0, **overrides) -> dict:
    """A full, valid crash report payload for one variant of a bug."""
    report = {
        "client_id": f"{bug}-{variant}",
        "fuzzer": "freefuzz",
        "reproducer": f"import torch\n# variant {variant}\n" + "x = 1\n" * (variant % 3),
        "created_at": f"2024-03-{1 + variant % 28:02d}T10:00:00Z",
        "extra": {"seed": variant},
        **BUGS[bug](variant),
    }
    report.update(overrides)
    return report

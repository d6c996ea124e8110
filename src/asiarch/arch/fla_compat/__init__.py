"""Pure-PyTorch stand-ins for the flash-linear-attention (``fla``) names ASI-Arch layer files import.

ASI-Arch's published layers import ``fla.modules`` (``RMSNorm``, ``FusedRMSNormGated``,
``ShortConvolution``), ``fla.modules.l2norm.l2norm`` and ``fla.layers.utils`` (``get_unpad_data``,
``index_first_axis``, ``pad_input``). The real package needs Triton and a GPU, so on CPU the loader
serves these modules instead, under the ``fla`` names, to candidate modules only: nothing here is
registered as ``fla`` in ``sys.modules``, so unrelated code never sees a fake ``fla``.

This package object is itself what a candidate gets for ``import fla``. The signatures and return
conventions follow fla's (checked against its source); the arithmetic is written here from the
definitions, in float32 where fla's kernels accumulate in float32.
"""

SERVED_MODULES: dict[str, str] = {
    "fla": "asiarch.arch.fla_compat",
    "fla.modules": "asiarch.arch.fla_compat.modules",
    "fla.modules.l2norm": "asiarch.arch.fla_compat.modules.l2norm",
    "fla.layers": "asiarch.arch.fla_compat.layers",
    "fla.layers.utils": "asiarch.arch.fla_compat.layers.utils",
}
"""fla module name → the module here that stands in for it. Anything else under ``fla`` (its
Triton ``fla.ops`` kernels, its models) has no CPU form and is refused with a clear message."""

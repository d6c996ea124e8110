"""Stand-in for ``fla.modules``: the normalisation and short-convolution layers ASI-Arch files use.

Like fla, the ``l2norm`` *function* is not exported here (fla exports the ``L2Norm`` class); files
import it from ``fla.modules.l2norm``, and re-exporting it would shadow that submodule's name.
"""

from asiarch.arch.fla_compat.modules.convolution import ShortConvolution
from asiarch.arch.fla_compat.modules.l2norm import L2Norm
from asiarch.arch.fla_compat.modules.norm import FusedRMSNormGated, RMSNorm

__all__ = ["FusedRMSNormGated", "L2Norm", "RMSNorm", "ShortConvolution"]

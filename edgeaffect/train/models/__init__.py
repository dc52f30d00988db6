"""Model families, one file each, registered by name (see edgeaffect.train.registry).

Importing this package registers every family; adding one = one file + one import line.
"""
from edgeaffect.train.models import bilstm  # noqa: F401
from edgeaffect.train.models import ddamfn  # noqa: F401
from edgeaffect.train.models import deepphys  # noqa: F401
from edgeaffect.train.models import ensemble  # noqa: F401
from edgeaffect.train.models import mtl  # noqa: F401
from edgeaffect.train.models import physnet  # noqa: F401
from edgeaffect.train.models import resnet  # noqa: F401
from edgeaffect.train.models import seqcnn  # noqa: F401
from edgeaffect.train.models import xception  # noqa: F401

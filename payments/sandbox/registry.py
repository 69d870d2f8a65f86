from payments.sandbox.bambora import BamboraSimulator
from payments.sandbox.optty import OpttySimulator
from payments.sandbox.simpleps import SimplePSSimulator
from payments.sandbox.vipps import VippsSimulator

SIMULATOR_CLASSES = {
    cls.code: cls for cls in (BamboraSimulator, OpttySimulator, SimplePSSimulator, VippsSimulator)
}

"""RITM's iterative-mask click model (Sofiiuk et al. 2021): HRNet+OCR fed with the image, the previous mask and
binary click disks."""
from model.ritm.network import HRNetISModel

__all__ = ['HRNetISModel']

"""The target interpreter, as doctor and launch both read it: the probe script that runs inside it
(probe.py), the installed lerobot's layout (layout.py), the backends' probe-fragment settings
(fragments.py) and what setup recorded in its prefix (setup_record.py).

Below doctor and launch: launch reads these without importing the doctor, so the doctor (whose
multi-process smoke uses launch) stays above launch and no package circle forms.
"""

"""The four baselines of tan2020 Table 1, each the FaderNets family network with other switches."""

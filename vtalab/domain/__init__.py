"""The vTA domain: pure rules of the Trust Authority (no SimPy, no clock, no randomness).

``reasons`` holds the registry of stable reason codes; ``attestation`` the Attestation
Service's verdict and its tokens; ``base_image`` the trusted ESXi base images.
"""

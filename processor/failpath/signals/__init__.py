"""What failpath reads as a signal, in one place: the error signals (the sampler keeps traces by them, the
diagnosis blames by them), the workflow key, and the agent vocabulary (the facts diagnosis reads and the
attributes they come from). Sampling, agents and packets import this; it imports none of them."""

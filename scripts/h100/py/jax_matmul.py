# SPDX-License-Identifier: GPL-2.0-only
"""Capture 10: JAX with its defaults (the client preallocates 75 % of the
memory the driver reports free), a bf16 matmul, then a jitted loop."""
import time
import gt
gt.do("import_jax")
import jax
import jax.numpy as jnp
x = jax.random.normal(jax.random.PRNGKey(0), (4096, 4096), dtype=jnp.bfloat16)
x.block_until_ready()
gt.step("after_init", devices=str(jax.devices()))
y = (x @ x).block_until_ready()
gt.step("after_matmul")
f = jax.jit(lambda a: jnp.tanh(a @ a).astype(jnp.float32).sum())
gt.do("jit_loop")
t0 = time.time()
for _ in range(50):
    r = f(x)
r.block_until_ready()
gt.step("after_jit_loop", seconds=time.time() - t0, value=float(r))
print("jax ok", jax.devices(), float(r))

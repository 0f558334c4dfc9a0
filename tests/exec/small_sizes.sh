# small_sizes.sh: the model sizes the per-key device tests share (sourced by
# tests/exec/test_models_cpu.sh, tests/exec/test_cuda_compile.sh and
# tests/gpu/test_models_cuda.sh), so tests/exec/kernel_counts holds for all
# of them: T=3, C=8, 3x3 kernels and small state sizes; `small` for the
# SimpleCSSM wrapper (8x8 images, one stem layer), `block_small` for a block
# alone (6x6 frames).
small="-D seq_len=3 -D image_size=8 -D embed_dim=8 -D kernel_size=3 -D stem_layers=1 -D s4nd_d_state=8
       -D convs5_state_dim=4 -D state_dim=4"
block_small="-D seq_len=3 -D image_size=6 -D embed_dim=8 -D kernel_size=3 -D s4nd_d_state=8
       -D convs5_state_dim=4 -D state_dim=4"

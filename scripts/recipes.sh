# The shipped models' architecture and hyper-parameter arguments for ganmodels.train, which the CPU script
# (train_shipped.sh) and the lent-GPU script (gpu_session.sh) both train with: one place to change a recipe.
# Sourced, not run; the family, data, steps and device stay with each script.
# shellcheck disable=SC2034  # the arrays are read by the scripts that source this file
DCGAN_MNIST_RECIPE=(--hp instance_noise=0.3 --hp lr=0.001 --hp lr_d=0.0002 --hp ema=0.999 --hp decay_start=0.3333
                    --arch extra_layers=2)
DCGAN_FASHION_RECIPE=(--hp instance_noise=0.3 --hp lr=0.001 --hp lr_d=0.0004 --hp ema=0.999 --hp decay_start=0.45
                      --arch extra_layers=2 --arch full_res_layers=2 --arch ngf=128)
WGAN_GP_MNIST_RECIPE=(--hp ema=0.999 --hp n_critic=1 --hp lr=3e-4 --hp lr_d=3e-4 --hp decay_start=0.4
                      --arch extra_layers=2)
# CIFAR-10 (issue 47). The baseline is the DCGAN tutorials' recipe: Radford's nets at 32 px, Adam 2e-4 with beta1 0.5,
# batch 128 (given with --batch-size), one-sided label smoothing 0.9. Ours, trained for the same wall-clock minutes:
# G's moving average, G at 2.5x D's rate, both rates decayed to zero over the second half, annealed instance noise.
DCGAN_CIFAR10_BASELINE_RECIPE=(--hp lr=2e-4 --hp beta1=0.5 --hp real_label=0.9)
DCGAN_CIFAR10_RECIPE=(--hp ema=0.999 --hp lr=5e-4 --hp lr_d=2e-4 --hp decay_start=0.5 --hp instance_noise=0.1
                      --hp noise_decay_start=0.0)
# the class-conditional colour model: AC-GAN (D names the class) with G's moving average and a decay over the second half
ACGAN_CIFAR10_RECIPE=(--hp ema=0.999 --hp decay_start=0.5)

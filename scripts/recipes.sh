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

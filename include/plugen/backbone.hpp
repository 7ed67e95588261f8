#pragma once
/// @file
/// Module header of plugen's backbones: the backbone contract, the TorchScript GAN, VAE and diffusion
/// adapters, `AnyBackbone` and `load_backbone`, attribute classifiers, auto-labelled latent data sets,
/// and images to PNG files.

#include "plugen/backbone/any.hpp"
#include "plugen/backbone/backbone.hpp"
#include "plugen/backbone/classifier.hpp"
#include "plugen/backbone/diffusion.hpp"
#include "plugen/backbone/gan.hpp"
#include "plugen/backbone/image.hpp"
#include "plugen/backbone/label.hpp"
#include "plugen/backbone/load.hpp"
#include "plugen/backbone/vae.hpp"
#include "plugen/core.hpp"

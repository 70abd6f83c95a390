"""The Veil standard library (.mpc modules), shipped as the package data of `veil.stdlib`."""

"""edgecoach on the device: sensors in, guidance out, nothing sent anywhere."""

"""The export stage: trains, distils, converts and quantises the models the device loads."""

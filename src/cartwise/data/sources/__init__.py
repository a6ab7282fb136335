"""Where datasets come from besides a shop's own files: public research formats and the demo
store generator."""

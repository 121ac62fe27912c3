"""Native C++ backend."""

"""Native C++ backend: an ONNX graph rendered through templates/ into a CMake project (C API library and
command-line program), built with the system's C++17 compiler."""
from .build import Build, build, build_executable
from .project import Project, generate_project, render

__all__ = ["Build", "Project", "build", "build_executable", "generate_project", "render"]

"""Front end: parser, AST, modules and the type checker."""

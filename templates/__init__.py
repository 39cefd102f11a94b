"""Jinja2 templates for formats with no serializer (Dockerfile, shell, TypeScript).

A package so that `jinja2.PackageLoader("streamdeploy.templates", "")` finds it in an
editable install too, where `templates/` is mapped onto `streamdeploy/templates`.
"""

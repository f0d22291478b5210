"""Object stores (the port is :mod:`knflow_control_plane.ports.objects`): ``local`` (a folder, its signed
URLs served by ``entrypoints/objects_app`` and checked by ``signing``) and ``s3``."""

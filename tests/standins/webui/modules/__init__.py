"""Stand-in for AUTOMATIC1111 webui v1.10.1's `modules` package (signatures and call order only).

Forge Neo and Forge Classic reuse these modules with `HYPERNETWORKS_REMOVED = True` on their own `modules`
package: then every hypernetwork piece those hosts removed is absent here too (see removed_hypernetworks.py)."""
HYPERNETWORKS_REMOVED = False

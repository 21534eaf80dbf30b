"""How media reaches the others: ICE, the receive path, remote peers, the topology seam,
the mesh."""

__all__: list[str] = []

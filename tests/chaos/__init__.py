"""The chaos run: a workload against ``knflow dev`` under injected faults, checked offline from its history."""

"""Who owns a lead: assignment rules, the one module ownership changes go through, handover."""

"""Activities, attachments, check-in distances, tasks and consistent links between records."""

"""Import items, users and events from files: readers, cell conversion, events, items/users."""

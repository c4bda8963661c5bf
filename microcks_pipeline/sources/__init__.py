"""Reading the world: catalog sources, repository files and URLs, remote change detection, host policy."""

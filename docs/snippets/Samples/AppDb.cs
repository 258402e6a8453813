using Microsoft.EntityFrameworkCore;

namespace MassTransit.Patterns.Docs.Snippets;

/// <summary>The application's own DbContext; the snippets map the patterns' tables into it (see ModelSnippets).</summary>
public sealed partial class AppDb(DbContextOptions<AppDb> options) : DbContext(options)
{
    protected override void OnModelCreating(ModelBuilder modelBuilder) => MapPatterns(modelBuilder);
}

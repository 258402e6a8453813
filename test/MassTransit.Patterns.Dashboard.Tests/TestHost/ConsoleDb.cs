using Microsoft.EntityFrameworkCore;

namespace MassTransit.Patterns.Dashboard.TestHost;

/// <summary>The workflow rows on SQLite (Dashboard:Store = sqlite).</summary>
public sealed class ConsoleDb(DbContextOptions<ConsoleDb> options) : DbContext(options)
{
    protected override void OnModelCreating(ModelBuilder modelBuilder) => modelBuilder.AddWorkflowEventEntities();
}

using MassTransit.Patterns.EntityFrameworkCore.Sagas;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Design;

namespace MassTransit.Patterns.Showcase.Persistence;

/// <summary>
/// The showcase's one DbContext, as an application would have it: its own tables plus the sagas the
/// patterns persist, all in one model and one set of migrations (see Persistence/Migrations).
/// </summary>
public sealed class ShowcaseDb(DbContextOptions<ShowcaseDb> options) : DbContext(options)
{
    /// <summary>Orders recorded by the baseline scenario.</summary>
    public DbSet<OrderRow> Orders => Set<OrderRow>();

    /// <summary>Applies the migrations to a fresh database, in WAL mode so readers do not wait for the writer.</summary>
    public async Task PrepareAsync(CancellationToken cancellationToken)
    {
        await Database.EnsureDeletedAsync(cancellationToken);
        await Database.MigrateAsync(cancellationToken);
        await Database.ExecuteSqlRawAsync("PRAGMA journal_mode=WAL;", cancellationToken);
    }

    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        modelBuilder.Entity<OrderRow>().HasKey(o => o.OrderId);
        modelBuilder.AddSagaInstance<PaymentLedgerState>(b =>
        {
            b.Property(x => x.CurrentState).HasMaxLength(64);
            b.Property(x => x.Customer).HasMaxLength(128);
        });
    }
}

/// <summary>Lets <c>dotnet ef migrations add</c> build the model without running the showcase.</summary>
public sealed class ShowcaseDbDesignTimeFactory : IDesignTimeDbContextFactory<ShowcaseDb>
{
    public ShowcaseDb CreateDbContext(string[] args) =>
        new(new DbContextOptionsBuilder<ShowcaseDb>().UseSqlite("Data Source=showcase-design.db").Options);
}

/// <summary>An order the baseline scenario's consumer recorded.</summary>
public sealed class OrderRow
{
    public Guid OrderId { get; set; }
    public int Number { get; set; }
}

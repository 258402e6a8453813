using MassTransit.Patterns.Testing;
using Microsoft.EntityFrameworkCore;
using Npgsql;

namespace MassTransit.Patterns.EntityFrameworkCore.Tests;

/// <summary>The databases the persistence tests use are real: a write and a read through EF Core.</summary>
public sealed class DatabaseRoundTripTests
{
    public sealed class Note
    {
        public Guid Id { get; set; }
        public string Text { get; set; } = "";
    }

    sealed class NotesContext(DbContextOptions<NotesContext> options) : DbContext(options)
    {
        public DbSet<Note> Notes => Set<Note>();
    }

    static async Task RoundTripAsync(DbContextOptions<NotesContext> options)
    {
        var id = Guid.NewGuid();
        await using (var db = new NotesContext(options))
        {
            await db.Database.EnsureDeletedAsync();
            await db.Database.EnsureCreatedAsync();
            db.Notes.Add(new Note { Id = id, Text = "written" });
            await db.SaveChangesAsync();
        }

        await using (var db = new NotesContext(options))
        {
            var note = await db.Notes.SingleAsync(n => n.Id == id);
            Assert.Equal("written", note.Text);
            await db.Database.EnsureDeletedAsync();
        }
    }

    [Fact]
    public async Task PostgreSql_round_trip()
    {
        var builder = new NpgsqlConnectionStringBuilder(ServiceEnvironment.PostgresConnectionString) { Database = $"roundtrip_{Guid.NewGuid():N}"[..24] };
        await RoundTripAsync(new DbContextOptionsBuilder<NotesContext>().UseNpgsql(builder.ConnectionString).Options);
    }

    [Fact]
    public async Task Sqlite_file_round_trip()
    {
        var file = Path.Combine(Path.GetTempPath(), $"mtp-roundtrip-{Guid.NewGuid():N}.db");
        await RoundTripAsync(new DbContextOptionsBuilder<NotesContext>().UseSqlite($"Data Source={file};Pooling=False").Options);
        Assert.False(File.Exists(file));
    }
}

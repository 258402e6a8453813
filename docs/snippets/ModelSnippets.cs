using MassTransit;
using Microsoft.EntityFrameworkCore;

namespace MassTransit.Patterns.Docs.Snippets;

public sealed partial class AppDb
{
    private static void MapPatterns(ModelBuilder modelBuilder)
    {
        // begin-snippet: ef-core-model
        // OnModelCreating of your own DbContext: the tables of the patterns you use, in your migrations
        modelBuilder.AddSagaInstance<OrderState>(b => b.Property(x => x.CurrentState).HasMaxLength(64));
        modelBuilder.AddEventForwardingEntities();   // ForwardingInbox, ForwardingOutbox, ForwardingOutboxLease
        modelBuilder.AddWorkflowEventEntities();     // WorkflowEvents
        modelBuilder.AddWatchEntities();             // WatchValue, Watcher, WatchedKey
        // end-snippet
        modelBuilder.Entity<Order>().HasKey(x => x.Id);
    }
}

using MassTransit.Clients;
using MassTransit.DependencyInjection;
using MassTransit.Middleware;
using MassTransit.Middleware.Outbox;
using MassTransit.Transports;
using Microsoft.EntityFrameworkCore;

namespace MassTransit.Patterns.EntityFrameworkCore.EventForwarding;

sealed class OutboxScopedBusContext<TDbContext> : ScopedBusContext, OutboxSendContext, IDisposable
    where TDbContext : DbContext
{
    readonly IBus _bus;
    readonly IClientFactory _clientFactory;
    readonly TDbContext _db;
    readonly Guid _outboxId = NewId.NextGuid();
    readonly IServiceProvider _provider;
    readonly OutboxDeliverySignal<TDbContext> _signal;
    readonly List<OutboxEntry> _added = [];
    IScopedClientFactory? _clientFactoryScoped;
    int _position;
    IPublishEndpoint? _publishEndpoint;
    ISendEndpointProvider? _sendEndpointProvider;

    public OutboxScopedBusContext(IBus bus, TDbContext db, IClientFactory clientFactory, IServiceProvider provider, OutboxDeliverySignal<TDbContext> signal)
    {
        _bus = bus;
        _db = db;
        _clientFactory = clientFactory;
        _provider = provider;
        _signal = signal;
        _db.SavedChanges += OnSavedChanges;
    }

    public ISendEndpointProvider SendEndpointProvider => _sendEndpointProvider ??= new OutboxSendEndpointProvider(this, _bus);

    public IPublishEndpoint PublishEndpoint => _publishEndpoint ??= new PublishEndpoint(new OutboxPublishEndpointProvider(this, _bus));

    public IScopedClientFactory ClientFactory =>
        _clientFactoryScoped ??= new ScopedClientFactory(new ClientFactory(new ScopedClientFactoryContext(_clientFactory, _provider)), null);

    public Task AddSend<T>(SendContext<T> context)
        where T : class
    {
        lock (_db)
        {
            var row = OutboxRows.Create(context, _outboxId, _position, null, null);
            _db.Add(row);
            _added.Add(row);
            _position++;
        }
        return Task.CompletedTask;
    }

    public object? GetService(Type serviceType) => _provider.GetService(serviceType);

    /// <summary>
    /// The handler's <c>SaveChanges</c> saved the rows: when it committed them (no transaction of the
    /// handler's own around it), they are handed to the delivery service; inside the handler's
    /// transaction they are not committed yet (it may still roll back), so the service is only woken
    /// to read the table, and its periodic read finds them once committed.
    /// </summary>
    void OnSavedChanges(object? sender, SavedChangesEventArgs e)
    {
        List<OutboxEntry>? saved = null;
        var unsaved = false;
        lock (_db)
        {
            if (_added.Count == 0)
                return;
            _added.RemoveAll(row =>
            {
                switch (_db.Entry(row).State)
                {
                    case EntityState.Unchanged:
                        (saved ??= []).Add(row);
                        return true;
                    case EntityState.Added:
                        // Not saved yet, or saved without accepting the changes.
                        unsaved = true;
                        return false;
                    default:
                        // Detached (the handler cleared its change tracker) or deleted: nothing to deliver.
                        return true;
                }
            });
        }

        if (saved is not null && _db.Database.CurrentTransaction is null && System.Transactions.Transaction.Current is null)
            _signal.Handoff(saved);
        else if (saved is not null || unsaved)
            _signal.Notify();
    }

    public void Dispose() => _db.SavedChanges -= OnSavedChanges;
}

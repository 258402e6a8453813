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
    IScopedClientFactory? _clientFactoryScoped;
    bool _pending;
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
            _db.Add(OutboxRows.Create(context, _outboxId, _position, null, null));
            _position++;
            _pending = true;
        }
        return Task.CompletedTask;
    }

    public object? GetService(Type serviceType) => _provider.GetService(serviceType);

    void OnSavedChanges(object? sender, SavedChangesEventArgs e)
    {
        bool pending;
        lock (_db)
        {
            pending = _pending;
            _pending = false;
        }
        if (pending)
            _signal.Notify();
    }

    public void Dispose() => _db.SavedChanges -= OnSavedChanges;
}

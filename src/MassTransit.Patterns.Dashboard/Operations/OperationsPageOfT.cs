namespace MassTransit.Patterns.Dashboard.Operations;

/// <summary>An operations page whose state is a <typeparamref name="TState"/>.</summary>
abstract class OperationsPage<TState> : OperationsPage
    where TState : class
{
    /// <summary>The pattern's state now, read from its components.</summary>
    protected abstract Task<TState> ReadStateAsync(IServiceProvider services, CancellationToken cancellationToken);

    /// <summary>Renders the state: every value through <see cref="DashboardHtml.Text"/> / <see cref="DashboardHtml.Attr"/>.</summary>
    protected abstract void Render(DashboardHtml html, TState state, OperationsRenderContext context);

    public sealed override async Task<object> ReadAsync(IServiceProvider services, CancellationToken cancellationToken) =>
        await ReadStateAsync(services, cancellationToken).ConfigureAwait(false);

    public sealed override void Render(DashboardHtml html, object state, OperationsRenderContext context) => Render(html, (TState)state, context);
}

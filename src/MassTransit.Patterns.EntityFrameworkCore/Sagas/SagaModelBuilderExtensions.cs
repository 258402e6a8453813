using MassTransit.Patterns.EntityFrameworkCore.Sagas;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace MassTransit;

/// <summary>
/// Maps saga instances into the user's own <see cref="DbContext"/> (and so into their own
/// migrations): key on <see cref="ISaga.CorrelationId"/>, never generated, and a concurrency token.
/// </summary>
public static class SagaModelBuilderExtensions
{
    internal const string TokenAnnotation = "MassTransit.Patterns:SagaConcurrencyToken";
    internal const string VersionProperty = nameof(ISagaVersion.Version);
    internal const string RowVersionProperty = "RowVersion";

    /// <summary>
    /// Maps <typeparamref name="TSaga"/> as a saga instance. Call it from <c>OnModelCreating</c>;
    /// <paramref name="configure"/> maps the saga's own properties (lengths, owned types, indexes).
    /// </summary>
    /// <param name="modelBuilder">The model builder of the user's DbContext.</param>
    /// <param name="configure">Further mapping of the saga's properties.</param>
    /// <param name="token">The concurrency token; <see cref="SagaConcurrencyToken.Version"/> works everywhere.</param>
    /// <param name="tableName">The table name; by default the saga type's name.</param>
    public static EntityTypeBuilder<TSaga> AddSagaInstance<TSaga>(this ModelBuilder modelBuilder, Action<EntityTypeBuilder<TSaga>>? configure = null,
        SagaConcurrencyToken token = SagaConcurrencyToken.Version, string? tableName = null)
        where TSaga : class, ISaga
    {
        var entity = modelBuilder.Entity<TSaga>();
        entity.ToTable(tableName ?? typeof(TSaga).Name);
        entity.HasKey(x => x.CorrelationId);
        entity.Property(x => x.CorrelationId).ValueGeneratedNever();

        switch (token)
        {
            case SagaConcurrencyToken.Version:
                if (typeof(ISagaVersion).IsAssignableFrom(typeof(TSaga)))
                    entity.Property(VersionProperty).IsConcurrencyToken().ValueGeneratedNever();
                else
                    entity.Property<int>(VersionProperty).IsConcurrencyToken().ValueGeneratedNever();
                break;
            case SagaConcurrencyToken.RowVersion:
                entity.Property<byte[]>(RowVersionProperty).IsRowVersion().IsRequired();
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(token), token, null);
        }

        entity.HasAnnotation(TokenAnnotation, token.ToString());
        configure?.Invoke(entity);
        return entity;
    }

    /// <summary>The concurrency token the saga was mapped with, or null when it was not mapped by <see cref="AddSagaInstance{TSaga}"/>.</summary>
    internal static SagaConcurrencyToken? GetSagaConcurrencyToken(this IEntityType entityType) =>
        entityType.FindAnnotation(TokenAnnotation)?.Value is string value && Enum.TryParse<SagaConcurrencyToken>(value, out var token) ? token : null;
}

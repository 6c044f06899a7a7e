//! Coins: balances, the append-only ledger, Stars invoices and payments, promo codes.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

fn id<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col)
        .big_integer()
        .not_null()
        .auto_increment()
        .primary_key()
        .to_owned()
}

fn user_fk(table: impl IntoIden + Copy, col: impl IntoIden + Copy) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .from(table, col)
        .to(Users::Table, Users::Id)
        .on_delete(ForeignKeyAction::Restrict)
        .to_owned()
}

fn created_at<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col)
        .timestamp_with_time_zone()
        .not_null()
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One row per user who ever had coins; a missing row means 0. The CHECK is the last line
        // of defence: the code never lets a balance go negative in the first place.
        manager
            .create_table(
                Table::create()
                    .table(Balances::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(Balances::UserId)
                            .big_integer()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(Balances::Coins)
                            .big_integer()
                            .not_null()
                            .default(0)
                            .check(Expr::col(Balances::Coins).gte(0)),
                    )
                    .col(created_at(Balances::UpdatedAt))
                    .foreign_key(&mut user_fk(Balances::Table, Balances::UserId))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Ledger::Table)
                    .if_not_exists()
                    .col(id(Ledger::Id))
                    .col(ColumnDef::new(Ledger::UserId).big_integer().not_null())
                    .col(ColumnDef::new(Ledger::Amount).big_integer().not_null())
                    .col(ColumnDef::new(Ledger::Kind).string().not_null())
                    .col(ColumnDef::new(Ledger::Reference).string())
                    .col(
                        ColumnDef::new(Ledger::IdempotencyKey)
                            .string()
                            .not_null()
                            .unique_key(),
                    )
                    .col(
                        ColumnDef::new(Ledger::BalanceAfter)
                            .big_integer()
                            .not_null(),
                    )
                    .col(created_at(Ledger::CreatedAt))
                    .foreign_key(&mut user_fk(Ledger::Table, Ledger::UserId))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ledger_user_id_id")
                    .table(Ledger::Table)
                    .col(Ledger::UserId)
                    .col(Ledger::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Invoices::Table)
                    .if_not_exists()
                    .col(id(Invoices::Id))
                    .col(ColumnDef::new(Invoices::UserId).big_integer().not_null())
                    .col(ColumnDef::new(Invoices::Stars).big_integer().not_null())
                    .col(ColumnDef::new(Invoices::Coins).big_integer().not_null())
                    .col(ColumnDef::new(Invoices::Status).string().not_null())
                    .col(created_at(Invoices::CreatedAt))
                    .foreign_key(&mut user_fk(Invoices::Table, Invoices::UserId))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Payments::Table)
                    .if_not_exists()
                    .col(id(Payments::Id))
                    .col(ColumnDef::new(Payments::UserId).big_integer().not_null())
                    // Null for a payment that matched no invoice of ours (kept so it can be refunded).
                    .col(ColumnDef::new(Payments::InvoiceId).big_integer())
                    .col(
                        ColumnDef::new(Payments::TelegramPaymentChargeId)
                            .string()
                            .not_null()
                            .unique_key(),
                    )
                    .col(ColumnDef::new(Payments::Stars).big_integer().not_null())
                    .col(ColumnDef::new(Payments::Coins).big_integer().not_null())
                    .col(ColumnDef::new(Payments::Status).string().not_null())
                    .col(created_at(Payments::CreatedAt))
                    .col(ColumnDef::new(Payments::RefundedAt).timestamp_with_time_zone())
                    .foreign_key(&mut user_fk(Payments::Table, Payments::UserId))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Payments::Table, Payments::InvoiceId)
                            .to(Invoices::Table, Invoices::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(PromoCodes::Table)
                    .if_not_exists()
                    .col(id(PromoCodes::Id))
                    .col(
                        ColumnDef::new(PromoCodes::Code)
                            .string()
                            .not_null()
                            .unique_key(),
                    )
                    .col(ColumnDef::new(PromoCodes::Coins).big_integer().not_null())
                    .col(ColumnDef::new(PromoCodes::MaxUses).big_integer())
                    .col(
                        ColumnDef::new(PromoCodes::Uses)
                            .big_integer()
                            .not_null()
                            .default(0),
                    )
                    .col(ColumnDef::new(PromoCodes::ExpiresAt).timestamp_with_time_zone())
                    .col(
                        ColumnDef::new(PromoCodes::Disabled)
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .col(created_at(PromoCodes::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(PromoRedemptions::Table)
                    .if_not_exists()
                    .col(id(PromoRedemptions::Id))
                    .col(
                        ColumnDef::new(PromoRedemptions::PromoCodeId)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(PromoRedemptions::UserId)
                            .big_integer()
                            .not_null(),
                    )
                    .col(created_at(PromoRedemptions::CreatedAt))
                    .foreign_key(&mut user_fk(
                        PromoRedemptions::Table,
                        PromoRedemptions::UserId,
                    ))
                    .foreign_key(
                        ForeignKey::create()
                            .from(PromoRedemptions::Table, PromoRedemptions::PromoCodeId)
                            .to(PromoCodes::Table, PromoCodes::Id),
                    )
                    .to_owned(),
            )
            .await?;
        // Each user redeems a code once, enforced by the database under any concurrency.
        manager
            .create_index(
                Index::create()
                    .name("promo_redemptions_once_per_user")
                    .table(PromoRedemptions::Table)
                    .col(PromoRedemptions::PromoCodeId)
                    .col(PromoRedemptions::UserId)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            PromoRedemptions::Table.into_iden(),
            PromoCodes::Table.into_iden(),
            Payments::Table.into_iden(),
            Invoices::Table.into_iden(),
            Ledger::Table.into_iden(),
            Balances::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden, Clone, Copy)]
enum Balances {
    Table,
    UserId,
    Coins,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Ledger {
    Table,
    Id,
    UserId,
    Amount,
    Kind,
    Reference,
    IdempotencyKey,
    BalanceAfter,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Invoices {
    Table,
    Id,
    UserId,
    Stars,
    Coins,
    Status,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Payments {
    Table,
    Id,
    UserId,
    InvoiceId,
    TelegramPaymentChargeId,
    Stars,
    Coins,
    Status,
    CreatedAt,
    RefundedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum PromoCodes {
    Table,
    Id,
    Code,
    Coins,
    MaxUses,
    Uses,
    ExpiresAt,
    Disabled,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum PromoRedemptions {
    Table,
    Id,
    PromoCodeId,
    UserId,
    CreatedAt,
}
